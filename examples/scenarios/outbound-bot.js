// Outbound voice bot: a session started over HTTP calls a SIP destination
// and connects the callee to a bot's WebSocket, both ways.
//
//   curl -H "Authorization: Bearer $CALLSTREAM_API_TOKEN" \
//        -d 'script_custom_data={"to":"sip:alice@pbx.example.com","bot":"ws://127.0.0.1:9000/agent"}' \
//        http://127.0.0.1:8780/scenarios
//
// (the gateway runs with --api-token or CALLSTREAM_API_TOKEN set: without a
// token POST /scenarios is off)
//
// The bot gets the callee's audio as ULAW media messages and plays audio
// back by sending start/media/stop; when it closes the socket, the call
// ends.
require(Modules.WebSocket);

VoxEngine.addEventListener(AppEvents.Started, () => {
  const job = JSON.parse(VoxEngine.customData());
  const call = VoxEngine.callSIP(job.to, {
    callerid: job.callerid || 'callstream',
    extraHeaders: { 'X-Job': job.id || 'outbound-bot' },
  });
  call.addEventListener(CallEvents.Ringing, () => Logger.write(`ringing ${call.number()}`));
  call.addEventListener(CallEvents.Failed, (e) => {
    Logger.write(`call failed: ${e.code} ${e.reason}`);
    VoxEngine.terminate();
  });
  call.addEventListener(CallEvents.Connected, () => {
    Logger.write(`connected ${call.number()}`);
    const ws = VoxEngine.createWebSocket(job.bot);
    ws.addEventListener(WebSocketEvents.OPEN, () => {
      call.sendMediaTo(ws, { encoding: WebSocketAudioEncoding.ULAW }); // callee -> bot
      ws.sendMediaTo(call);                                             // bot -> callee
    });
    ws.addEventListener(WebSocketEvents.CLOSE, () => call.hangup());
    call.addEventListener(CallEvents.Disconnected, (e) => {
      Logger.write(`disconnected after ${e.duration} s: ${e.reason}`);
      ws.close();
      VoxEngine.terminate();
    });
  });
});
