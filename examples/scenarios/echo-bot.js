// Echo bot: the caller's audio goes to a WebSocket bot and the bot's audio
// comes back to the caller. With a bot that sends every message back as
// it came, the caller hears themselves.
//
// The bot URL is the runtime's custom data (VoxEngine.customData()).
require(Modules.WebSocket);

const BOT_URL = VoxEngine.customData() || 'ws://127.0.0.1:9000/echo';

VoxEngine.addEventListener(AppEvents.CallAlerting, (e) => {
  const call = e.call;
  Logger.write(`call from ${e.callerid} to ${e.destination}`);
  const ws = VoxEngine.createWebSocket(BOT_URL);
  call.answer();

  call.addEventListener(CallEvents.Connected, () => {
    // Caller -> bot (16-bit PCM at 8 kHz), bot -> caller.
    call.sendMediaTo(ws, { encoding: WebSocketAudioEncoding.PCM16_8KHZ });
    ws.sendMediaTo(call);
  });

  ws.addEventListener(WebSocketEvents.MEDIA_STARTED, (ev) => {
    Logger.write(`bot audio started (${ev.encoding})`);
  });
  ws.addEventListener(WebSocketEvents.ERROR, () => Logger.write('bot socket error'));
  ws.addEventListener(WebSocketEvents.CLOSE, (ev) => {
    Logger.write(`bot socket closed: ${ev.code}`);
    call.hangup();
  });

  call.addEventListener(CallEvents.Disconnected, () => {
    ws.close(WebSocketCloseCode.CLOSE_NORMAL, 'caller hung up');
    VoxEngine.terminate();
  });
});
