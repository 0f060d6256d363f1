// The scenario globals that are plain JavaScript: VoiceList and the helpers
// built on the Go-backed API. Run in every session before the scenario.
(function (g) {
  'use strict';
  var freeze = Object.freeze;
  var define = function (name, value) {
    Object.defineProperty(g, name, { value: value, writable: false, enumerable: false, configurable: false });
  };

  // The enums (AppEvents, CallEvents, …) are defined from the API table
  // before the prelude runs.

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
