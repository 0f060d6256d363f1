// The scenario globals that are plain JavaScript: the enums and the helpers
// built on the Go-backed API. Run in every session before the scenario.
(function (g) {
  'use strict';
  var freeze = Object.freeze;
  var define = function (name, value) {
    Object.defineProperty(g, name, { value: value, writable: false, enumerable: false, configurable: false });
  };

  define('AppEvents', freeze({
    CallAlerting: 'Application.CallAlerting',
    Started: 'Application.Started',
    Terminating: 'Application.Terminating',
    Terminated: 'Application.Terminated',
    HttpRequest: 'Application.HttpRequest',
    WebSocket: 'AppEvents.NewWebSocketConnection',
    NewWebSocketFailed: 'Application.OnNewWebSocketFailed'
  }));

  define('CallEvents', freeze({
    Connected: 'Call.Connected',
    Disconnected: 'Call.Disconnected',
    Failed: 'Call.Failed',
    ToneReceived: 'Call.ToneReceived',
    PlaybackReady: 'Call.PlaybackReady',
    PlaybackStarted: 'Call.PlaybackStarted',
    PlaybackFinished: 'Call.PlaybackFinished',
    AudioStarted: 'Call.AudioStarted',
    FirstAudioPacketReceived: 'Call.FirstAudioPacketReceived',
    StateChanged: 'Call.StateChanged',
    Ringing: 'Call.Ringing',
    MessageReceived: 'Call.MessageReceived',
    InfoReceived: 'Call.InfoReceived',
    RecordStarted: 'Call.RecordStarted',
    RecordStopped: 'Call.RecordStopped',
    RecordError: 'Call.RecordError'
  }));

  define('RecordExpireTime', freeze({
    THREEMONTHS: 'THREEMONTHS',
    SIXMONTHS: 'SIXMONTHS',
    ONEYEAR: 'ONEYEAR',
    TWOYEARS: 'TWOYEARS',
    THREEYEARS: 'THREEYEARS'
  }));

  define('WebSocketEvents', freeze({
    OPEN: 'WebSocket.Open',
    CLOSE: 'WebSocket.Close',
    MESSAGE: 'WebSocket.Message',
    ERROR: 'WebSocket.Error',
    CREATED: 'WebSocket.Created',
    MEDIA_STARTED: 'WebSocket.MediaEventStarted',
    MEDIA_ENDED: 'WebSocket.MediaEventEnded'
  }));

  define('WebSocketReadyState', freeze({
    CONNECTING: 'connecting',
    OPEN: 'open',
    CLOSING: 'closing',
    CLOSED: 'closed'
  }));

  var closeCodes = freeze({
    CLOSE_NORMAL: 1000,
    CLOSE_GOING_AWAY: 1001,
    CLOSE_PROTOCOL_ERROR: 1002,
    CLOSE_UNSUPPORTED: 1003,
    CLOSED_NO_STATUS: 1005,
    CLOSE_ABNORMAL: 1006,
    CLOSE_UNSUPPORTED_PAYLOAD: 1007,
    CLOSE_POLICY_VIOLATION: 1008,
    CLOSE_TOO_LARGE: 1009,
    CLOSE_MANDATORY_EXTENSION: 1010,
    CLOSE_SERVER_ERROR: 1011,
    CLOSE_SERVICE_RESTART: 1012,
    CLOSE_TRY_AGAIN_LATER: 1013,
    CLOSE_BAD_GATEWAY: 1014,
    CLOSE_TLS_FAIL: 1015
  });
  define('WebSocketCloseCode', closeCodes);
  define('WebsocketCloseCode', closeCodes);

  define('WebSocketAudioEncoding', freeze({
    ULAW: 'ULAW',
    ALAW: 'ALAW',
    PCM8: 'PCM8',
    PCM16_8KHZ: 'PCM8',
    PCM16: 'PCM16',
    PCM16_16KHZ: 'PCM16',
    OPUS: 'OPUS'
  }));

  define('PlayerEvents', freeze({
    Started: 'Player.Started',
    PlaybackReady: 'Player.PlaybackReady',
    PlaybackFinished: 'Player.PlaybackFinished',
    PlaybackMarkerReached: 'Player.PlaybackMarkerReached',
    Stopped: 'Player.Stopped'
  }));

  define('RecorderEvents', freeze({
    Started: 'Recorder.Started',
    Stopped: 'Recorder.Stopped',
    RecorderError: 'Recorder.Error'
  }));

  define('Modules', freeze({
    WebSocket: 'websocket',
    ASR: 'asr',
    AI: 'ai',
    ACD: 'acd',
    Conference: 'conference',
    Player: 'player',
    Recorder: 'recorder',
    SmartQueue: 'smartqueue',
    StreamingAgent: 'streamingagent',
    MediaStatistics: 'mediastatistics',
    ApplicationStorage: 'applicationstorage',
    CallList: 'calllist',
    IVR: 'ivr',
    Gemini: 'gemini',
    OpenAI: 'openai',
    ElevenLabs: 'elevenlabs',
    Ultravox: 'ultravox'
  }));

  // VoiceList.<Provider>.<voice> names a TTS voice; any path is accepted
  // and its text ("Amazon.en_US_Joanna") is handed to the TTS program.
  var voice = function (path) {
    return new Proxy(function () {}, {
      get: function (target, key) {
        if (key === Symbol.toPrimitive || key === 'toString' || key === 'valueOf') {
          return function () { return path; };
        }
        if (typeof key === 'symbol') {
          return undefined;
        }
        return voice(path === '' ? String(key) : path + '.' + String(key));
      }
    });
  };
  define('VoiceList', voice(''));

  var VoxEngine = g.VoxEngine;

  // easyProcess connects two calls: media both ways; call2's ringing is
  // relayed to call1, call1 is answered when call2 connects; when call2
  // fails, call1 is rejected with its code; when either leg ends, the
  // other is hung up and the session ends.
  VoxEngine.easyProcess = function (call1, call2, onEstablished, direct) {
    VoxEngine.sendMediaBetween(call1, call2);
    call2.addEventListener(CallEvents.Ringing, function () { call1.ring(); });
    call2.addEventListener(CallEvents.Connected, function () {
      call1.answer();
      if (typeof onEstablished === 'function') {
        onEstablished(call1, call2);
      }
    });
    call2.addEventListener(CallEvents.Failed, function (e) {
      if (call1.state() === 'ALERTING') {
        call1.reject(e.code);
      } else {
        call1.hangup();
      }
      VoxEngine.terminate();
    });
    call1.addEventListener(CallEvents.Failed, function () { call2.hangup(); VoxEngine.terminate(); });
    call1.addEventListener(CallEvents.Disconnected, function () { call2.hangup(); VoxEngine.terminate(); });
    call2.addEventListener(CallEvents.Disconnected, function () { call1.hangup(); VoxEngine.terminate(); });
  };
  VoxEngine.forwardCallToSIP = function (e) {
    VoxEngine.easyProcess(e.call, VoxEngine.callSIP(e.destination));
  };

  g.console = freeze({
    log: function () { Logger.write(Array.prototype.join.call(arguments, ' ')); },
    info: function () { Logger.write(Array.prototype.join.call(arguments, ' ')); },
    warn: function () { Logger.write(Array.prototype.join.call(arguments, ' ')); },
    error: function () { Logger.write(Array.prototype.join.call(arguments, ' ')); }
  });
})(this);
