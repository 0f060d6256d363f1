// Incoming socket: instead of dialing out, the session lets a media client
// connect to it and plays what the client sends to the caller.
//
// 1. On Started: keep the session's socket URL (accessSecureURL with wss)
//    and allow incoming WebSockets.
// 2. On AppEvents.WebSocket: play the client's audio to the call.
// 3. The client sends start (ULAW at 8 kHz), 160-byte media chunks, stop.
//
// accessSecureURL is served by the gateway's TLS listener:
//   callstream serve --scenario incoming-socket.js --https 127.0.0.1:8443 --tls-cert cert.pem --tls-key key.pem
// (or give --public-url https://… when a TLS proxy sits in front).
require(Modules.WebSocket);

let socketURL = '';
let call = null;

VoxEngine.addEventListener(AppEvents.Started, (e) => {
  socketURL = e.accessSecureURL.replace('https', 'wss');
  Logger.write(`media clients connect to ${socketURL}`);
  VoxEngine.allowWebSocketConnections();
});

VoxEngine.addEventListener(AppEvents.CallAlerting, (e) => {
  call = e.call;
  call.answer();
  call.addEventListener(CallEvents.Disconnected, () => VoxEngine.terminate());
});

VoxEngine.addEventListener(AppEvents.WebSocket, (e) => {
  Logger.write(`media client connected on ${e.path}`);
  const ws = e.websocket;
  if (call === null) {
    Logger.write('no call to play to yet');
    ws.close(WebSocketCloseCode.CLOSE_TRY_AGAIN_LATER, 'no call yet');
    return;
  }
  ws.sendMediaTo(call);
  ws.addEventListener(WebSocketEvents.MEDIA_STARTED, (ev) => Logger.write(`client audio started (${ev.encoding})`));
  ws.addEventListener(WebSocketEvents.MEDIA_ENDED, () => Logger.write('client audio played'));
  ws.addEventListener(WebSocketEvents.CLOSE, () => Logger.write('media client left'));
});
