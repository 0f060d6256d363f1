// TypeScript declarations of the VoxEngine API that callstream's scenario
// runtime implements. Generated from the runtime; do not edit.
// Regenerate: go test ./internal/scenario -run TestVoxDTS -update

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
  AudioStarted = "Call.AudioStarted",
  Connected = "Call.Connected",
  Disconnected = "Call.Disconnected",
  Failed = "Call.Failed",
  FirstAudioPacketReceived = "Call.FirstAudioPacketReceived",
  InfoReceived = "Call.InfoReceived",
  MessageReceived = "Call.MessageReceived",
  PlaybackFinished = "Call.PlaybackFinished",
  PlaybackStarted = "Call.PlaybackStarted",
  RecordStarted = "Call.RecordStarted",
  RecordStopped = "Call.RecordStopped",
  Ringing = "Call.Ringing",
  StateChanged = "Call.StateChanged",
  ToneReceived = "Call.ToneReceived",
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
}

declare enum PlayerEvents {
  PlaybackFinished = "Player.PlaybackFinished",
  PlaybackReady = "Player.PlaybackReady",
  Started = "Player.Started",
  Stopped = "Player.Stopped",
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
  function callConference(...args: any[]): any;
  function callPSTN(number: string, callerid?: string, params?: any): Call;
  function callSIP(to: string, params?: any, ...rest: any[]): Call;
  function callUser(...args: any[]): any;
  function callUserDirect(...args: any[]): any;
  function callWhatsappUser(...args: any[]): any;
  function createASR(...args: any[]): any;
  function createConference(...args: any[]): any;
  function createRecorder(params?: any): Recorder;
  function createSequencePlayer(...args: any[]): any;
  function createTTSPlayer(text: string, params?: any): Player;
  function createToneScriptPlayer(...args: any[]): any;
  function createURLPlayer(url: string, params?: any): Player;
  function createWebSocket(url: string, params?: any): WebSocket;
  function customData(data?: string): string;
  function disableStatisticsForIncomingWebsockets(...args: any[]): any;
  function disableTraceForIncomingWebsockets(...args: any[]): any;
  function easyProcess(call1: Call, call2: Call, onEstablished?: (call1: Call, call2: Call) => void, direct?: boolean): void;
  function enableStatisticsForIncomingWebsockets(...args: any[]): any;
  function enableTraceForIncomingWebsockets(...args: any[]): any;
  function forwardCallToSIP(...args: any[]): any;
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
  displayName(): string;
  handleTones(enable: boolean): void;
  hangup(extraHeaders?: any): void;
  headers(): { [name: string]: string };
  id(): string;
  incoming(): boolean;
  number(): string;
  reject(code?: number, extraHeaders?: any): void;
  removeEventListener(event: string, handler?: (e: any) => void): void;
  ring(...args: any[]): any;
  say(text: string, params?: any): void;
  sendDigits(digits: string): void;
  sendMediaTo(target: any, params?: any): void;
  startEarlyMedia(...args: any[]): any;
  startPlayback(url: string, params?: any): void;
  state(): string;
  stopMediaTo(target: any, params?: any): void;
  stopPlayback(...args: any[]): any;
}

interface Player {
  addEventListener(event: string, handler: (e: any) => void): void;
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
