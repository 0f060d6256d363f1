# callstream — build and test.

.PHONY: test build demo bench

# Runs every test; installs what the tests need first (SIPp) when it is missing.
test:
	./scripts/test.sh

build:
	go build -o callstream ./cmd/callstream

demo:
	go run ./cmd/callstream demo
