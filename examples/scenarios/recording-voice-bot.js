// Recording voice bot: the caller talks with a WebSocket bot (audio both
// ways) while the call is recorded in stereo (caller left, bot right).
// When the call ends, the recording's URL goes to a webhook and the
// session ends.
//
// The runtime's custom data (VoxEngine.customData()) is JSON:
//   {"bot": "ws://127.0.0.1:9000/bot", "webhook": "http://127.0.0.1:9000/calls"}
require(Modules.WebSocket);

let config = {};
try {
  config = JSON.parse(VoxEngine.customData() || '{}');
} catch (err) {
  Logger.write(`custom data is not JSON: ${err.message}`);
}
const BOT_URL = config.bot || 'ws://127.0.0.1:9000/bot';
const WEBHOOK_URL = config.webhook || 'http://127.0.0.1:9000/calls';

VoxEngine.addEventListener(AppEvents.CallAlerting, (e) => {
  const call = e.call;
  const caller = e.callerid;
  let recordingURL = '';
  let recordedSeconds = 0;
  const ws = VoxEngine.createWebSocket(BOT_URL);
  call.answer();

  call.addEventListener(CallEvents.Connected, () => {
    call.record({ stereo: true });
    // Caller -> bot (16-bit PCM at 8 kHz), bot -> caller.
    call.sendMediaTo(ws, { encoding: WebSocketAudioEncoding.PCM16_8KHZ });
    ws.sendMediaTo(call);
  });

  call.addEventListener(CallEvents.RecordStarted, (ev) => {
    recordingURL = ev.url;
    Logger.write(`recording started: ${ev.url}`);
  });
  call.addEventListener(CallEvents.RecordStopped, (ev) => {
    recordingURL = ev.url || recordingURL;
    recordedSeconds = ev.duration || 0;
    Logger.write(`recording stopped: ${ev.url} (${ev.duration} s)`);
  });

  ws.addEventListener(WebSocketEvents.CLOSE, () => call.hangup());

  call.addEventListener(CallEvents.Disconnected, async () => {
    ws.close(WebSocketCloseCode.CLOSE_NORMAL, 'caller hung up');
    try {
      const res = await Net.httpRequestAsync(WEBHOOK_URL, {
        method: 'POST',
        headers: ['Content-Type: application/json'],
        postData: JSON.stringify({ caller, recording: recordingURL, duration: recordedSeconds }),
      });
      Logger.write(`webhook answered ${res.code}`);
    } catch (err) {
      Logger.write(`webhook failed: ${err}`);
    }
    VoxEngine.terminate();
  });
});
