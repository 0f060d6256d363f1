// TypeScript declarations of the VoxEngine API that callstream's scenario
// runtime implements. Generated from the runtime; do not edit.
// Regenerate: go test ./internal/scenario -run TestVoxDTS -update

declare enum ASREvents {
  ASRError = "ASR.ASRError",
  CaptureStarted = "ASR.CaptureStarted",
  InterimResult = "ASR.InterimResult",
  Result = "ASR.Result",
  SpeechCaptureStarted = "ASR.SpeechCaptureStarted",
  Started = "ASR.Started",
  Stopped = "ASR.Stopped",
}

declare const ASRLanguage: any;

declare const ASRModelList: any;

declare const ASRProfileList: any;

declare enum AppEvents {
  CallAlerting = "Application.CallAlerting",
  HttpRequest = "Application.HttpRequest",
  NewWebSocketFailed = "Application.OnNewWebSocketFailed",
  Started = "Application.Started",
  Terminated = "Application.Terminated",
  Terminating = "Application.Terminating",
  WebSocket = "AppEvents.NewWebSocketConnection",
}

declare enum CallEvents {
  AcceptReInvite = "Call.AcceptReInvite",
  AudioIdentificationError = "Call.AudioIdentificationError",
  AudioIdentificationResult = "Call.AudioIdentificationResult",
  AudioIdentificationStarted = "Call.AudioIdentificationStarted",
  AudioIdentificationStopped = "Call.AudioIdentificationStopped",
  AudioQualityDetected = "Call.AudioQualityDetected",
  AudioStarted = "Call.AudioStarted",
  BeepDetectionComplete = "Call.BeepDetectionComplete",
  BeepDetectionError = "Call.BeepDetectionError",
  BlindTransferRequested = "Call.BlindTransferRequested",
  Connected = "Call.Connected",
  Disconnected = "Call.Disconnected",
  Failed = "Call.Failed",
  FirstAudioPacketReceived = "Call.FirstAudioPacketReceived",
  FirstVideoPacket = "Call.FirstVideoPacket",
  InfoReceived = "Call.InfoReceived",
  MessageReceived = "Call.MessageReceived",
  MicStatusChange = "Call.MicStatusChange",
  OffHold = "Call.OffHold",
  OnHold = "Call.OnHold",
  PlaybackFinished = "Call.PlaybackFinished",
  PlaybackMarkerReached = "Call.PlaybackMarkerReached",
  PlaybackReady = "Call.PlaybackReady",
  PlaybackStarted = "Call.PlaybackStarted",
  ProgressToneStart = "Call.ProgressToneStart",
  ProgressToneStop = "Call.ProgressToneStop",
  PushSent = "Call.PushSent",
  ReInviteAccepted = "Call.ReInviteAccepted",
  ReInviteReceived = "Call.ReInviteReceived",
  ReInviteRejected = "Call.ReInviteRejected",
  RecordError = "Call.RecordError",
  RecordStarted = "Call.RecordStarted",
  RecordStopped = "Call.RecordStopped",
  Ringing = "Call.Ringing",
  RtpResumed = "Call.RtpResumed",
  RtpStopped = "Call.RtpStopped",
  StateChanged = "Call.StateChanged",
  StatisticsReceived = "Call.StatisticsReceived",
  ToneDetected = "Call.ToneDetected",
  ToneReceived = "Call.ToneReceived",
  TransferComplete = "Call.TransferComplete",
  TransferFailed = "Call.TransferFailed",
  VideoTrackCreated = "Call.VideoTrackCreated",
  VoicemailPromptDetected = "Call.VoicemailPromptDetected",
  VoicemailToneDetected = "Call.VoicemailToneDetected",
  VoicemailToneNotDetected = "Call.VoicemailToneNotDetected",
}

declare enum Language {
  AU_ENGLISH_FEMALE = "AU_ENGLISH_FEMALE",
  BR_PORTUGUESE_FEMALE = "BR_PORTUGUESE_FEMALE",
  CA_ENGLISH_FEMALE = "CA_ENGLISH_FEMALE",
  CA_FRENCH_FEMALE = "CA_FRENCH_FEMALE",
  CA_FRENCH_MALE = "CA_FRENCH_MALE",
  CH_CHINESE_FEMALE = "CH_CHINESE_FEMALE",
  CH_CHINESE_MALE = "CH_CHINESE_MALE",
  EUR_CATALAN_FEMALE = "EUR_CATALAN_FEMALE",
  EUR_CZECH_FEMALE = "EUR_CZECH_FEMALE",
  EUR_DANISH_FEMALE = "EUR_DANISH_FEMALE",
  EUR_DUTCH_FEMALE = "EUR_DUTCH_FEMALE",
  EUR_FINNISH_FEMALE = "EUR_FINNISH_FEMALE",
  EUR_FRENCH_FEMALE = "EUR_FRENCH_FEMALE",
  EUR_FRENCH_MALE = "EUR_FRENCH_MALE",
  EUR_GERMAN_FEMALE = "EUR_GERMAN_FEMALE",
  EUR_GERMAN_MALE = "EUR_GERMAN_MALE",
  EUR_GREEK_FEMALE = "EUR_GREEK_FEMALE",
  EUR_ITALIAN_FEMALE = "EUR_ITALIAN_FEMALE",
  EUR_ITALIAN_MALE = "EUR_ITALIAN_MALE",
  EUR_NORWEGIAN_FEMALE = "EUR_NORWEGIAN_FEMALE",
  EUR_POLISH_FEMALE = "EUR_POLISH_FEMALE",
  EUR_PORTUGUESE_FEMALE = "EUR_PORTUGUESE_FEMALE",
  EUR_PORTUGUESE_MALE = "EUR_PORTUGUESE_MALE",
  EUR_SPANISH_FEMALE = "EUR_SPANISH_FEMALE",
  EUR_SPANISH_MALE = "EUR_SPANISH_MALE",
  EUR_TURKISH_FEMALE = "EUR_TURKISH_FEMALE",
  EUR_TURKISH_MALE = "EUR_TURKISH_MALE",
  HK_CHINESE_FEMALE = "HK_CHINESE_FEMALE",
  HU_HUNGARIAN_FEMALE = "HU_HUNGARIAN_FEMALE",
  IN_ENGLISH_FEMALE = "IN_ENGLISH_FEMALE",
  JP_JAPANESE_FEMALE = "JP_JAPANESE_FEMALE",
  JP_JAPANESE_MALE = "JP_JAPANESE_MALE",
  KR_KOREAN_FEMALE = "KR_KOREAN_FEMALE",
  KR_KOREAN_MALE = "KR_KOREAN_MALE",
  MX_SPANISH_FEMALE = "MX_SPANISH_FEMALE",
  RU_RUSSIAN_FEMALE = "RU_RUSSIAN_FEMALE",
  RU_RUSSIAN_MALE = "RU_RUSSIAN_MALE",
  SW_SWEDISH_FEMALE = "SW_SWEDISH_FEMALE",
  TW_CHINESE_FEMALE = "TW_CHINESE_FEMALE",
  UK_ENGLISH_FEMALE = "UK_ENGLISH_FEMALE",
  UK_ENGLISH_MALE = "UK_ENGLISH_MALE",
  US_ENGLISH_FEMALE = "US_ENGLISH_FEMALE",
  US_ENGLISH_MALE = "US_ENGLISH_MALE",
  US_SPANISH_FEMALE = "US_SPANISH_FEMALE",
  US_SPANISH_MALE = "US_SPANISH_MALE",
}

declare namespace Logger {
  function write(...text: any[]): void;
}

declare enum Modules {
  ACD = "acd",
  AI = "ai",
  ASR = "asr",
  ApplicationStorage = "applicationstorage",
  CallList = "calllist",
  Conference = "conference",
  ElevenLabs = "elevenlabs",
  Gemini = "gemini",
  IVR = "ivr",
  MediaStatistics = "mediastatistics",
  OpenAI = "openai",
  Player = "player",
  Recorder = "recorder",
  SmartQueue = "smartqueue",
  StreamingAgent = "streamingagent",
  Ultravox = "ultravox",
  WebSocket = "websocket",
}

declare namespace Net {
  function httpRequest(url: string, callback: (result: any) => void, options?: any): void;
  function httpRequestAsync(url: string, options?: any): Promise<any>;
  /** @deprecated not supported by callstream: send a request to a mail service with Net.httpRequestAsync */
  function sendMail(...args: any[]): any;
  /** @deprecated not supported by callstream: send a request to a mail service with Net.httpRequestAsync */
  function sendMailAsync(...args: any[]): any;
}

declare enum PlayerEvents {
  PlaybackBuffering = "Player.PlaybackBuffering",
  PlaybackFinished = "Player.PlaybackFinished",
  PlaybackMarkerReached = "Player.PlaybackMarkerReached",
  PlaybackReady = "Player.PlaybackReady",
  Started = "Player.Started",
  Stopped = "Player.Stopped",
}

declare enum RecordExpireTime {
  ONEYEAR = "ONEYEAR",
  SIXMONTHS = "SIXMONTHS",
  THREEMONTHS = "THREEMONTHS",
  THREEYEARS = "THREEYEARS",
  TWOYEARS = "TWOYEARS",
}

declare enum RecorderEvents {
  RecorderError = "Recorder.Error",
  Started = "Recorder.Started",
  Stopped = "Recorder.Stopped",
}

declare const VoiceList: any;

declare namespace VoxEngine {
  function addEventListener(event: string, handler: (e: any) => void): void;
  function allowWebSocketConnections(...args: any[]): any;
  /** @deprecated not supported by callstream: bridge two calls with VoxEngine.sendMediaBetween */
  function callConference(...args: any[]): any;
  function callPSTN(number: string, callerid?: string, params?: any): Call;
  function callSIP(to: string, params?: any, ...rest: any[]): Call;
  /** @deprecated not supported by callstream: callstream has no user directory: call a SIP address with VoxEngine.callSIP */
  function callUser(...args: any[]): any;
  /** @deprecated not supported by callstream: callstream has no user directory: call a SIP address with VoxEngine.callSIP */
  function callUserDirect(...args: any[]): any;
  /** @deprecated not supported by callstream: callstream has no user directory: call a SIP address with VoxEngine.callSIP */
  function callWhatsappUser(...args: any[]): any;
  /** @deprecated not supported by callstream: stream the audio to your recognizer with VoxEngine.createWebSocket and call.sendMediaTo */
  function createASR(...args: any[]): any;
  /** @deprecated not supported by callstream: bridge two calls with VoxEngine.sendMediaBetween */
  function createConference(...args: any[]): any;
  function createRecorder(params?: any): Recorder;
  /** @deprecated not supported by callstream: play audio with VoxEngine.createURLPlayer or call.startPlayback */
  function createSequencePlayer(...args: any[]): any;
  function createTTSPlayer(text: string, params?: any): Player;
  /** @deprecated not supported by callstream: play a recording of the tone with call.startPlayback */
  function createToneScriptPlayer(...args: any[]): any;
  function createURLPlayer(url: string, params?: any): Player;
  function createWebSocket(url: string, params?: any): WebSocket;
  function customData(data?: string): string;
  function disableStatisticsForIncomingWebsockets(...args: any[]): any;
  function disableTraceForIncomingWebsockets(...args: any[]): any;
  function easyProcess(call1: Call, call2: Call, onEstablished?: (call1: Call, call2: Call) => void, direct?: boolean): void;
  function enableStatisticsForIncomingWebsockets(...args: any[]): any;
  function enableTraceForIncomingWebsockets(...args: any[]): any;
  /** @deprecated not supported by callstream: forward with VoxEngine.easyProcess(call, VoxEngine.callPSTN(number, callerid)) */
  function forwardCallToPSTN(...args: any[]): any;
  function forwardCallToSIP(...args: any[]): any;
  /** @deprecated not supported by callstream: callstream has no user directory: call a SIP address with VoxEngine.callSIP */
  function forwardCallToUser(...args: any[]): any;
  function removeEventListener(event: string, handler?: (e: any) => void): void;
  function sendMediaBetween(a: any, b: any): void;
  function stopMediaBetween(a: any, b: any): void;
  function terminate(): void;
}

declare class WebSocket {
  constructor(url: string, params?: any);
  addEventListener(event: string, handler: (e: any) => void): void;
  clearMediaBuffer(params?: { tag?: string }): void;
  close(code?: number, reason?: string): void;
  id(): string;
  onclose: ((e: any) => void) | null;
  oncreated: ((e: any) => void) | null;
  onerror: ((e: any) => void) | null;
  onmediaended: ((e: any) => void) | null;
  onmediastarted: ((e: any) => void) | null;
  onmessage: ((e: any) => void) | null;
  onopen: ((e: any) => void) | null;
  readonly readyState: string;
  removeEventListener(event: string, handler?: (e: any) => void): void;
  send(data: string): void;
  sendMediaTo(target: any, params?: any): void;
  stopMediaTo(target: any, params?: any): void;
  readonly url: string;
}

declare enum WebSocketAudioEncoding {
  ALAW = "ALAW",
  OPUS = "OPUS",
  PCM16 = "PCM16",
  PCM16_16KHZ = "PCM16",
  PCM16_8KHZ = "PCM8",
  PCM8 = "PCM8",
  ULAW = "ULAW",
}

declare enum WebSocketCloseCode {
  CLOSED_NO_STATUS = 1005,
  CLOSE_ABNORMAL = 1006,
  CLOSE_BAD_GATEWAY = 1014,
  CLOSE_GOING_AWAY = 1001,
  CLOSE_MANDATORY_EXTENSION = 1010,
  CLOSE_NORMAL = 1000,
  CLOSE_POLICY_VIOLATION = 1008,
  CLOSE_PROTOCOL_ERROR = 1002,
  CLOSE_SERVER_ERROR = 1011,
  CLOSE_SERVICE_RESTART = 1012,
  CLOSE_TLS_FAIL = 1015,
  CLOSE_TOO_LARGE = 1009,
  CLOSE_TRY_AGAIN_LATER = 1013,
  CLOSE_UNSUPPORTED = 1003,
  CLOSE_UNSUPPORTED_PAYLOAD = 1007,
}

declare enum WebSocketEvents {
  CLOSE = "WebSocket.Close",
  CREATED = "WebSocket.Created",
  ERROR = "WebSocket.Error",
  MEDIA_ENDED = "WebSocket.MediaEventEnded",
  MEDIA_STARTED = "WebSocket.MediaEventStarted",
  MESSAGE = "WebSocket.Message",
  OPEN = "WebSocket.Open",
}

declare enum WebSocketReadyState {
  CLOSED = "closed",
  CLOSING = "closing",
  CONNECTING = "connecting",
  OPEN = "open",
}

declare enum WebsocketCloseCode {
  CLOSED_NO_STATUS = 1005,
  CLOSE_ABNORMAL = 1006,
  CLOSE_BAD_GATEWAY = 1014,
  CLOSE_GOING_AWAY = 1001,
  CLOSE_MANDATORY_EXTENSION = 1010,
  CLOSE_NORMAL = 1000,
  CLOSE_POLICY_VIOLATION = 1008,
  CLOSE_PROTOCOL_ERROR = 1002,
  CLOSE_SERVER_ERROR = 1011,
  CLOSE_SERVICE_RESTART = 1012,
  CLOSE_TLS_FAIL = 1015,
  CLOSE_TOO_LARGE = 1009,
  CLOSE_TRY_AGAIN_LATER = 1013,
  CLOSE_UNSUPPORTED = 1003,
  CLOSE_UNSUPPORTED_PAYLOAD = 1007,
}

declare function clearInterval(id?: number): void;

declare function clearTimeout(id?: number): void;

declare namespace console {
  function error(...args: any[]): any;
  function info(...args: any[]): any;
  function log(...args: any[]): any;
  function warn(...args: any[]): any;
}

declare function require(module: string): void;

declare function setInterval(callback: (...args: any[]) => void, ms?: number, ...args: any[]): number;

declare function setTimeout(callback: (...args: any[]) => void, ms?: number, ...args: any[]): number;

interface Call {
  addEventListener(event: string, handler: (e: any) => void): void;
  answer(extraHeaders?: any, params?: any): void;
  answerDirect(...args: any[]): any;
  callerid(): string;
  clientType(...args: any[]): any;
  customData(data?: string): string;
  decline(...args: any[]): any;
  /** @deprecated not supported by callstream: stream the audio to a detector with VoxEngine.createWebSocket */
  detectProgressTone(...args: any[]): any;
  displayName(): string;
  /** @deprecated not supported by callstream: stream the audio to a detector with VoxEngine.createWebSocket */
  enableBeepDetection(...args: any[]): any;
  /** @deprecated not supported by callstream: place a new call with VoxEngine.callSIP and bridge it with VoxEngine.sendMediaBetween */
  handleBlindTransfer(...args: any[]): any;
  handleTones(enable: boolean): void;
  hangup(extraHeaders?: any): void;
  headers(): { [name: string]: string };
  id(): string;
  incoming(): boolean;
  number(): string;
  /** @deprecated not supported by callstream: play a recording of the tone with call.startPlayback */
  playProgressTone(...args: any[]): any;
  record(...args: any[]): any;
  reject(code?: number, extraHeaders?: any): void;
  removeEventListener(event: string, handler?: (e: any) => void): void;
  ring(...args: any[]): any;
  say(text: string, params?: any): void;
  sendDigits(digits: string): void;
  sendInfo(...args: any[]): any;
  sendMediaTo(target: any, params?: any): void;
  sendMessage(...args: any[]): any;
  startEarlyMedia(...args: any[]): any;
  startPlayback(url: string, params?: any): void;
  state(): string;
  stopMediaTo(target: any, params?: any): void;
  stopPlayback(...args: any[]): any;
  stopRecording(...args: any[]): any;
  /** @deprecated not supported by callstream: place a new call with VoxEngine.callSIP and bridge it with VoxEngine.sendMediaBetween */
  transferTo(...args: any[]): any;
}

interface Player {
  addEventListener(event: string, handler: (e: any) => void): void;
  addMarker(...args: any[]): any;
  id(): string;
  pause(...args: any[]): any;
  removeEventListener(event: string, handler?: (e: any) => void): void;
  resume(...args: any[]): any;
  sendMediaTo(target: any, params?: any): void;
  stop(): void;
  stopMediaTo(target: any, params?: any): void;
}

interface Recorder {
  addEventListener(event: string, handler: (e: any) => void): void;
  id(): string;
  removeEventListener(event: string, handler?: (e: any) => void): void;
  stop(): void;
}
