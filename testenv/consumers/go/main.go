// A workload that uses the operator's credentials the way Go applications do, with the AWS SDK for Go v2.
//
// Every INTERVAL_MS it calls STS GetCallerIdentity with credentials from the SDK's default chain
// (config.LoadDefaultConfig: environment variables, or the shared credentials file named by
// AWS_SHARED_CREDENTIALS_FILE). MODE says how long it keeps them:
//
//	client    one aws.Config and client for the life of the process (what applications do)
//	per-call  config.LoadDefaultConfig and a new client for every call (credentials resolved anew each time)
//
// One JSON line per call:
//
//	{"time","sdk","mode","result":"ok"|"expired"|"error","key","fileKey","arn"|"error"}
//
// plus {"time","event":"credentials-changed","key"} when the access key it signs with changes. "key" is the access
// key it signed with, "fileKey" the one the mounted file holds now, both as fingerprints (the first 8 hex digits of
// the SHA-256 of the access key id: the first 12 characters of AWS's and moto's ids are the same for every key of an
// account). Secrets are never printed.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

var fileKeyPattern = regexp.MustCompile(`aws_access_key_id\s*=\s*(\S+)`)

func fingerprint(key string) *string {
	if key == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(key))
	short := hex.EncodeToString(sum[:])[:8]
	return &short
}

func emit(fields map[string]any) {
	fields["time"] = time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	line, _ := json.Marshal(fields)
	os.Stdout.Write(append(line, '\n'))
}

// fileKey is the access key id the mounted credentials file holds now (what the kubelet last wrote into it).
func fileKey() string {
	name := os.Getenv("AWS_SHARED_CREDENTIALS_FILE")
	if name == "" {
		return ""
	}
	text, err := os.ReadFile(name)
	if err != nil {
		return ""
	}
	if m := fileKeyPattern.FindSubmatch(text); m != nil {
		return string(m[1])
	}
	return ""
}

func call(ctx context.Context, cfg aws.Config) (key, result string, extra map[string]any) {
	extra = map[string]any{}
	// The credentials the client signs with: the config's cache hands out what it holds.
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		extra["error"] = err.Error()
		return "", "error", extra
	}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		var apiErr smithy.APIError
		extra["error"] = err.Error()
		if errors.As(err, &apiErr) && apiErr.ErrorCode() == "ExpiredToken" {
			return creds.AccessKeyID, "expired", extra
		}
		return creds.AccessKeyID, "error", extra
	}
	extra["arn"] = aws.ToString(out.Arn)
	return creds.AccessKeyID, "ok", extra
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	interval := time.Second
	if ms, err := strconv.Atoi(os.Getenv("INTERVAL_MS")); err == nil {
		interval = time.Duration(ms) * time.Millisecond
	}
	mode := os.Getenv("MODE")
	if mode == "" {
		mode = "client"
	}
	load := func() (aws.Config, error) { return config.LoadDefaultConfig(ctx) }
	shared, err := load()
	if err != nil {
		emit(map[string]any{"event": "config-failed", "error": err.Error()})
		os.Exit(1)
	}
	last := ""
	for ctx.Err() == nil {
		cfg := shared
		if mode == "per-call" {
			if cfg, err = load(); err != nil {
				emit(map[string]any{"event": "config-failed", "error": err.Error()})
			}
		}
		key, result, fields := call(ctx, cfg)
		if key != last {
			emit(map[string]any{"event": "credentials-changed", "key": fingerprint(key)})
			last = key
		}
		fields["sdk"] = "aws-sdk-go-v2 " + aws.SDKVersion
		fields["mode"] = mode
		fields["result"] = result
		fields["key"] = fingerprint(key)
		fields["fileKey"] = fingerprint(fileKey())
		emit(fields)
		select {
		case <-ctx.Done():
		case <-time.After(interval):
		}
	}
}
