package main

import (
	"context"
	"flag"
	"io"
	"log/slog"

	"github.com/callstream/callstream/internal/demo"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		wav      = fs.String("wav", "", "where to write the received audio (default: a file in the temp folder)")
		dialect  = fs.String("stream-dialect", "carrierx", "carrierx or twilio")
		codec    = fs.String("codec", "PCMU", "the caller's codec: PCMU or PCMA")
		logLevel = fs.String("log-level", "warn", "gateway log level")
		scn      = fs.Bool("scenario", false, "run the JavaScript echo-bot scenario instead of FlexML")
		scnFile  = fs.String("scenario-file", "", "with --scenario: the script (default: the built-in echo bot)")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*logLevel)); err != nil {
		return err
	}
	opts := demo.Options{
		Out:     stdout,
		WAVPath: *wav,
		Dialect: *dialect,
		Codec:   *codec,
		Logger:  slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv})),
	}
	if *scn {
		_, err := demo.RunScenario(ctx, opts, *scnFile)
		return err
	}
	_, err := demo.Run(ctx, opts)
	return err
}
