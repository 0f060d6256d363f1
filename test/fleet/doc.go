// Package fleet tests callstream nodes behind Kamailio's dispatcher as a
// fleet: real `callstream serve` processes, the project's Kamailio
// configuration, a real SIP caller, app server and WebSocket app.
package fleet
