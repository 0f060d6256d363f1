package logsafe

import "strings"

// secretWords are the words of an attribute key that make its value a
// secret.
var secretWords = [...]string{
	"token", "tokens", "password", "passwd", "passphrase", "secret", "secrets",
	"authorization", "bearer", "cookie", "credential", "credentials", "apikey",
	"nonce", "pin", "digit", "digits",
}

// secretSuffixes make a camel-case or run-together word a secret
// ("accesstoken", "clientsecret").
var secretSuffixes = [...]string{"token", "password", "secret"}

// SecretKey reports whether an attribute key names a secret: one of its
// words (split at '_', '-', '.', spaces and camel-case humps) is token,
// password, secret, authorization, cookie, credential, nonce, pin, digit,
// digits, … or ends in token, password or secret, or two of them are "api
// key". It does not allocate.
func SecretKey(k string) bool {
	prevAPI := false
	start := 0
	for i := 0; i <= len(k); i++ {
		sep := i < len(k) && !isAlnum(k[i])
		hump := i < len(k) && i > start && isLower(k[i-1]) && isUpper(k[i])
		if i < len(k) && !sep && !hump {
			continue
		}
		if w := k[start:i]; w != "" {
			if secretWord(w) || prevAPI && strings.EqualFold(w, "key") {
				return true
			}
			prevAPI = strings.EqualFold(w, "api")
		}
		start = i
		if sep {
			start = i + 1
		}
	}
	return false
}

func secretWord(w string) bool {
	for _, s := range secretWords {
		if len(w) == len(s) && strings.EqualFold(w, s) {
			return true
		}
	}
	for _, s := range secretSuffixes {
		if len(w) > len(s) && strings.EqualFold(w[len(w)-len(s):], s) {
			return true
		}
	}
	return false
}

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isAlnum(c byte) bool { return isLower(c) || isUpper(c) || c >= '0' && c <= '9' }
