// Transcription fork: the caller's audio goes to a speech-to-text server
// over a WebSocket; the server answers with text, which is played back to
// the caller with a text-to-speech URL.
//
// 1. On CallAlerting: open the socket and answer.
// 2. When the server's greeting arrives, fork the caller's audio (µ-law).
// 3. Every later message is a final transcript: play it via the TTS URL.
// 4. CLOSE, ERROR or Disconnected end the session.
//
// Custom data (JSON): {"asr": "wss://asr.example.com/stream", "tts": "https://tts.example.com/say?text="}
require(Modules.WebSocket);

const cfg = JSON.parse(VoxEngine.customData() || '{}');
const ASR_URL = cfg.asr || 'wss://asr.example.com/stream';
const TTS_URL = cfg.tts || 'https://tts.example.com/say?text=';

VoxEngine.addEventListener(AppEvents.CallAlerting, (e) => {
  const call = e.call;
  const ws = VoxEngine.createWebSocket(ASR_URL);
  let forking = false;
  call.answer();

  ws.addEventListener(WebSocketEvents.MESSAGE, (msg) => {
    if (!forking) {
      forking = true;
      Logger.write(`asr ready: ${msg.text}`);
      call.sendMediaTo(ws, { encoding: WebSocketAudioEncoding.ULAW });
      return;
    }
    Logger.write(`transcript: ${msg.text}`);
    call.startPlayback(TTS_URL + encodeURIComponent(msg.text));
  });

  call.addEventListener(CallEvents.PlaybackFinished, (ev) => {
    Logger.write(ev.error ? `playback failed: ${ev.error}` : 'playback finished');
  });

  const end = () => VoxEngine.terminate();
  ws.addEventListener(WebSocketEvents.CLOSE, end);
  ws.addEventListener(WebSocketEvents.ERROR, end);
  call.addEventListener(CallEvents.Disconnected, end);
});
