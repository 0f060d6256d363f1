// Full-duplex voice agent with barge-in.
//
// 1. Open wss://agent/<call id>. On OPEN: send call_started, stream the
//    caller as 16 kHz PCM and play the agent's audio to the caller.
// 2. The agent sends start (PCM16 at 16 kHz) and media ahead of real time;
//    the gateway buffers up to 10 s and paces playback. MEDIA_STARTED
//    confirms it accepted the stream.
// 3. Barge-in: the agent sends {"type":"barge_in"} and the scenario drops
//    what is still queued with clearMediaBuffer().
// 4. On hang-up: send call_ended, wait for the summary, close the socket.
//
// The agent's base URL is the runtime's custom data.
require(Modules.WebSocket);

const AGENT_URL = VoxEngine.customData() || 'wss://agent.example.com/ws/live/telephony';

VoxEngine.addEventListener(AppEvents.CallAlerting, (e) => {
  const call = e.call;
  const ws = VoxEngine.createWebSocket(`${AGENT_URL}/${call.id()}`);
  call.answer();

  ws.addEventListener(WebSocketEvents.OPEN, () => {
    ws.send(JSON.stringify({ type: 'call_started', callId: call.id(), from: call.callerid(), to: call.number() }));
    call.sendMediaTo(ws, { encoding: WebSocketAudioEncoding.PCM16_16KHZ });
    ws.sendMediaTo(call);
  });

  ws.addEventListener(WebSocketEvents.MEDIA_STARTED, (ev) => Logger.write(`agent audio started (${ev.encoding})`));
  ws.addEventListener(WebSocketEvents.MEDIA_ENDED, () => Logger.write('agent audio ended'));

  ws.addEventListener(WebSocketEvents.MESSAGE, (ev) => {
    let msg;
    try {
      msg = JSON.parse(ev.text);
    } catch (err) {
      return;
    }
    if (msg.type === 'barge_in') {
      ws.clearMediaBuffer();
      Logger.write('barge-in: agent audio cleared');
    } else if (msg.type === 'summary') {
      Logger.write(`summary: ${msg.text}`);
      ws.close(WebSocketCloseCode.CLOSE_NORMAL, 'done');
    }
  });

  ws.addEventListener(WebSocketEvents.CLOSE, () => VoxEngine.terminate());

  call.addEventListener(CallEvents.Disconnected, () => {
    // The socket outlives the call: ask for the summary, give it 5 s.
    ws.send(JSON.stringify({ type: 'call_ended' }));
    setTimeout(() => ws.close(WebSocketCloseCode.CLOSE_NORMAL, 'no summary'), 5000);
  });
});
