package scenario

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dop251/goja"
)

// apiKind is what a member of the VoxEngine API is.
type apiKind uint8

const (
	apiFunction apiKind = iota // a method or global function
	apiValue                   // an enum constant: Value is what it holds
	apiAnyPath                 // a namespace any path of which names something opaque (ASRProfileList.Google.en_US)
	apiObject                  // a global object whose members are listed on their own
)

func (k apiKind) String() string {
	switch k {
	case apiFunction:
		return "function"
	case apiValue:
		return "value"
	case apiAnyPath:
		return "any-path"
	}
	return "object"
}

// apiMember is one name of the VoxEngine API a scenario may use. Path is
// "Global.member" for globals, "Call.member" for the members of a Call
// object (Call is not a global). A member that is not Implemented exists
// all the same: a function of it throws, when called, an error naming it
// and saying it is not supported, with Hint telling what to do instead; an
// enum constant of it holds its name, though nothing fires that event.
type apiMember struct {
	Path        string
	Kind        apiKind
	Value       any // apiValue: the constant
	Implemented bool
	Hint        string
}

// apiInstanceClasses are the owners of members that live on objects the
// runtime makes, not on globals.
var apiInstanceClasses = map[string]bool{"Call": true}

// global reports whether m is reachable from the global object.
func (m apiMember) global() bool {
	owner, _, _ := strings.Cut(m.Path, ".")
	return !apiInstanceClasses[owner]
}

// Hints of the refused members.
const (
	hintASR        = "stream the audio to your recognizer with VoxEngine.createWebSocket and call.sendMediaTo"
	hintConference = "bridge two calls with VoxEngine.sendMediaBetween"
	hintUsers      = "callstream has no user directory: call a SIP address with VoxEngine.callSIP"
	hintPlayers    = "play audio with VoxEngine.createURLPlayer or call.startPlayback"
	hintTransfer   = "place a new call with VoxEngine.callSIP and bridge it with VoxEngine.sendMediaBetween"
	hintTone       = "play a recording of the tone with call.startPlayback"
	hintDetection  = "stream the audio to a detector with VoxEngine.createWebSocket"
)

// apiTable lists every VoxEngine member callstream knows of, implemented
// or not. The enums are built from it; the refused functions are installed
// from it; a test walks it against a fresh runtime.
var apiTable = buildAPITable()

func buildAPITable() []apiMember {
	var t []apiMember
	fn := func(path string) { t = append(t, apiMember{Path: path, Kind: apiFunction, Implemented: true}) }
	refused := func(path, hint string) { t = append(t, apiMember{Path: path, Kind: apiFunction, Hint: hint}) }
	enum := func(owner, prefix string, fired []string, named []string) {
		for _, n := range fired {
			t = append(t, apiMember{Path: owner + "." + n, Kind: apiValue, Value: prefix + n, Implemented: true})
		}
		for _, n := range named {
			t = append(t, apiMember{Path: owner + "." + n, Kind: apiValue, Value: prefix + n})
		}
	}
	consts := func(owner string, kv ...any) {
		for i := 0; i+1 < len(kv); i += 2 {
			t = append(t, apiMember{Path: owner + "." + kv[i].(string), Kind: apiValue, Value: kv[i+1], Implemented: true})
		}
	}

	for _, n := range []string{"terminate", "customData", "addEventListener", "removeEventListener",
		"createWebSocket", "allowWebSocketConnections", "callSIP", "callPSTN", "sendMediaBetween",
		"stopMediaBetween", "createURLPlayer", "createTTSPlayer", "createRecorder", "easyProcess",
		"forwardCallToSIP", "enableStatisticsForIncomingWebsockets", "disableStatisticsForIncomingWebsockets",
		"enableTraceForIncomingWebsockets", "disableTraceForIncomingWebsockets"} {
		fn("VoxEngine." + n)
	}
	refused("VoxEngine.createASR", hintASR)
	refused("VoxEngine.createConference", hintConference)
	refused("VoxEngine.callConference", hintConference)
	refused("VoxEngine.callUser", hintUsers)
	refused("VoxEngine.callUserDirect", hintUsers)
	refused("VoxEngine.callWhatsappUser", hintUsers)
	refused("VoxEngine.forwardCallToUser", hintUsers)
	refused("VoxEngine.forwardCallToPSTN", "forward with VoxEngine.easyProcess(call, VoxEngine.callPSTN(number, callerid))")
	refused("VoxEngine.createSequencePlayer", hintPlayers)
	refused("VoxEngine.createToneScriptPlayer", hintTone)
	for _, n := range []string{"Logger.write", "Net.httpRequest", "Net.httpRequestAsync", "setTimeout", "setInterval",
		"clearTimeout", "clearInterval", "require", "WebSocket"} {
		fn(n)
	}
	refused("Net.sendMail", "send a request to a mail service with Net.httpRequestAsync")
	refused("Net.sendMailAsync", "send a request to a mail service with Net.httpRequestAsync")

	for _, n := range []string{"id", "callerid", "number", "displayName", "clientType", "state", "incoming",
		"headers", "customData", "answer", "answerDirect", "reject", "decline", "ring", "hangup", "say",
		"startPlayback", "stopPlayback", "sendMediaTo", "stopMediaTo", "handleTones", "sendDigits",
		"addEventListener", "removeEventListener",
		"sendMessage", "sendInfo",
		"startEarlyMedia", // 183 with SDP; media plays before the answer
	} {
		fn("Call." + n)
	}
	refused("Call.transferTo", hintTransfer)
	refused("Call.handleBlindTransfer", hintTransfer)
	refused("Call.playProgressTone", hintTone)
	refused("Call.detectProgressTone", hintDetection)
	refused("Call.enableBeepDetection", hintDetection)
	fn("Call.record")
	fn("Call.stopRecording")

	enum("AppEvents", "Application.", []string{"CallAlerting", "Started", "Terminating", "Terminated", "HttpRequest"}, nil)
	t = append(t,
		apiMember{Path: "AppEvents.WebSocket", Kind: apiValue, Value: evWebSocket, Implemented: true},
		apiMember{Path: "AppEvents.NewWebSocketFailed", Kind: apiValue, Value: evNewWebSocketFailed, Implemented: true})
	enum("CallEvents", "Call.",
		[]string{"Connected", "Disconnected", "Failed", "Ringing", "ToneReceived", "PlaybackReady", "PlaybackStarted",
			"PlaybackFinished", "AudioStarted", "FirstAudioPacketReceived", "StateChanged", "MessageReceived", "InfoReceived",
			"RecordStarted", "RecordStopped", "RecordError"},
		[]string{"AcceptReInvite", "AudioIdentificationError", "AudioIdentificationResult", "AudioIdentificationStarted",
			"AudioIdentificationStopped", "AudioQualityDetected", "BeepDetectionComplete", "BeepDetectionError",
			"BlindTransferRequested", "FirstVideoPacket", "MicStatusChange", "OffHold",
			"OnHold", "PlaybackMarkerReached", "ProgressToneStart", "ProgressToneStop", "PushSent",
			"ReInviteAccepted", "ReInviteReceived", "ReInviteRejected",
			"RtpResumed", "RtpStopped", "StatisticsReceived", "ToneDetected", "TransferComplete", "TransferFailed",
			"VideoTrackCreated", "VoicemailPromptDetected", "VoicemailToneDetected", "VoicemailToneNotDetected"})
	enum("PlayerEvents", "Player.", []string{"Started", "PlaybackReady", "PlaybackFinished", "PlaybackMarkerReached", "Stopped"},
		[]string{"PlaybackBuffering"})
	enum("RecorderEvents", "Recorder.", []string{"Started", "Stopped"}, nil)
	t = append(t, apiMember{Path: "RecorderEvents.RecorderError", Kind: apiValue, Value: evRecorderError, Implemented: true})
	enum("ASREvents", "ASR.", nil, []string{"ASRError", "CaptureStarted", "InterimResult", "Result",
		"SpeechCaptureStarted", "Started", "Stopped"})
	consts("WebSocketEvents", "OPEN", evWSOpen, "CLOSE", evWSClose, "MESSAGE", evWSMessage, "ERROR", evWSError,
		"CREATED", evWSCreated, "MEDIA_STARTED", evWSMediaStarted, "MEDIA_ENDED", evWSMediaEnded,
	)
	consts("RecordExpireTime", "THREEMONTHS", "THREEMONTHS", "SIXMONTHS", "SIXMONTHS", "ONEYEAR", "ONEYEAR",
		"TWOYEARS", "TWOYEARS", "THREEYEARS", "THREEYEARS")
	consts("WebSocketReadyState", "CONNECTING", "connecting", "OPEN", "open", "CLOSING", "closing", "CLOSED", "closed")
	closeCodes := []any{"CLOSE_NORMAL", 1000, "CLOSE_GOING_AWAY", 1001, "CLOSE_PROTOCOL_ERROR", 1002,
		"CLOSE_UNSUPPORTED", 1003, "CLOSED_NO_STATUS", 1005, "CLOSE_ABNORMAL", 1006, "CLOSE_UNSUPPORTED_PAYLOAD", 1007,
		"CLOSE_POLICY_VIOLATION", 1008, "CLOSE_TOO_LARGE", 1009, "CLOSE_MANDATORY_EXTENSION", 1010,
		"CLOSE_SERVER_ERROR", 1011, "CLOSE_SERVICE_RESTART", 1012, "CLOSE_TRY_AGAIN_LATER", 1013,
		"CLOSE_BAD_GATEWAY", 1014, "CLOSE_TLS_FAIL", 1015}
	consts("WebSocketCloseCode", closeCodes...)
	consts("WebsocketCloseCode", closeCodes...)
	consts("WebSocketAudioEncoding", "ULAW", EncULaw, "ALAW", EncALaw, "PCM8", EncPCM8, "PCM16_8KHZ", EncPCM8,
		"PCM16", EncPCM16, "PCM16_16KHZ", EncPCM16, "OPUS", EncOpus)
	consts("Modules", "WebSocket", "websocket", "ASR", "asr", "AI", "ai", "ACD", "acd", "Conference", "conference",
		"Player", "player", "Recorder", "recorder", "SmartQueue", "smartqueue", "StreamingAgent", "streamingagent",
		"MediaStatistics", "mediastatistics", "ApplicationStorage", "applicationstorage", "CallList", "calllist",
		"IVR", "ivr", "Gemini", "gemini", "OpenAI", "openai", "ElevenLabs", "elevenlabs", "Ultravox", "ultravox")
	t = append(t,
		apiMember{Path: "ASRProfileList", Kind: apiAnyPath},
		apiMember{Path: "ASRLanguage", Kind: apiAnyPath},
		apiMember{Path: "ASRModelList", Kind: apiAnyPath})
	return t
}

// refusalError is the error of calling a member callstream does not run;
// it is ErrNotSupported.
type refusalError struct{ m apiMember }

func (e *refusalError) Error() string {
	return e.m.Path + " is not supported by callstream: " + e.m.Hint
}

func (e *refusalError) Unwrap() error { return ErrNotSupported }

// refusedFunction returns the function installed for a refused member: it
// logs the refusal and throws it in the calling script as an Error.
func (s *session) refusedFunction(m apiMember) func(goja.FunctionCall) goja.Value {
	return func(goja.FunctionCall) goja.Value {
		err := &refusalError{m}
		s.log.Error("scenario: "+err.Error(), "api", m.Path)
		ctor, _ := s.vm.Get("Error").(*goja.Object)
		if ctor != nil {
			if obj, cerr := s.vm.New(ctor, s.vm.ToValue(err.Error())); cerr == nil {
				panic(obj)
			}
		}
		s.throw(err)
		return nil
	}
}

// installAPITable defines the table's enums, any-path namespaces and
// refused global functions. Implemented functions are installed by hand
// beforehand; a refused one never replaces what exists.
func (s *session) installAPITable() error {
	vm := s.vm
	g := vm.GlobalObject()
	enums := map[string]*goja.Object{}
	var order []string
	for _, m := range apiTable {
		if !m.global() {
			continue
		}
		owner, member, nested := strings.Cut(m.Path, ".")
		switch {
		case m.Kind == apiAnyPath:
			if err := g.DefineDataProperty(m.Path, s.anyPath(m.Path), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_FALSE); err != nil {
				return fmt.Errorf("scenario globals: %s: %w", m.Path, err)
			}
		case m.Kind == apiValue && nested:
			o := enums[owner]
			if o == nil {
				o = vm.NewObject()
				enums[owner] = o
				order = append(order, owner)
			}
			_ = o.Set(member, m.Value)
		case m.Kind == apiFunction && !m.Implemented && nested:
			o := asObject(g.Get(owner))
			if o == nil {
				o = vm.NewObject()
				_ = g.Set(owner, o)
			}
			if isNothing(o.Get(member)) {
				_ = o.Set(member, s.refusedFunction(m))
			}
		}
	}
	freeze, _ := goja.AssertFunction(vm.Get("Object").ToObject(vm).Get("freeze"))
	for _, name := range order {
		if _, err := freeze(goja.Undefined(), enums[name]); err != nil {
			return fmt.Errorf("scenario globals: %s: %w", name, err)
		}
		if err := g.DefineDataProperty(name, enums[name], goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_FALSE); err != nil {
			return fmt.Errorf("scenario globals: %s: %w", name, err)
		}
	}
	return nil
}

// installRefusedMembers adds to obj, a unit of class, the refused members
// of the table it lacks.
func (s *session) installRefusedMembers(class string, obj *goja.Object) {
	for _, m := range apiTable {
		owner, member, _ := strings.Cut(m.Path, ".")
		if owner != class || m.Implemented || m.Kind != apiFunction || !isNothing(obj.Get(member)) {
			continue
		}
		_ = obj.Set(member, s.refusedFunction(m))
	}
}

// anyPath returns an opaque name: any property of it is a longer name, and
// as a string it is its path ("ASRProfileList.Google.en_US").
func (s *session) anyPath(path string) *goja.Object {
	vm := s.vm
	text := func(goja.FunctionCall) goja.Value { return vm.ToValue(path) }
	p := vm.NewProxy(vm.NewObject(), &goja.ProxyTrapConfig{
		Get: func(_ *goja.Object, prop string, _ goja.Value) goja.Value {
			switch prop {
			case "toString", "valueOf", "toJSON":
				return vm.ToValue(text)
			case "then":
				return goja.Undefined() // not a thenable
			}
			return s.anyPath(path + "." + prop)
		},
		GetIdx: func(_ *goja.Object, idx int, _ goja.Value) goja.Value {
			return s.anyPath(path + "." + strconv.Itoa(idx))
		},
		GetSym: func(_ *goja.Object, sym *goja.Symbol, _ goja.Value) goja.Value {
			if sym == goja.SymToPrimitive {
				return vm.ToValue(text)
			}
			return goja.Undefined()
		},
		Has: func(*goja.Object, string) bool { return true },
	})
	return vm.ToValue(p).(*goja.Object)
}
