package config

import (
	"strings"
	"testing"
)

func TestAWSAuth(t *testing.T) {
	tests := []struct {
		name, backend string
		wantErr       string // "" means valid
		wantHost      string
		wantRegion    string
		wantService   string
	}{
		{name: "region from the backend, bedrock host by default",
			backend:  `"schema":"aws_bedrock_anthropic","region":"us-east-1","auth":{"type":"aws_sigv4"}`,
			wantHost: "bedrock-runtime.us-east-1.amazonaws.com", wantRegion: "us-east-1", wantService: "bedrock"},
		{name: "auth region and host win",
			backend:  `"region":"us-east-1","host":"vpce.example","auth":{"type":"aws_sigv4","region":"eu-west-1","profile":"team","role_arn":"arn:aws:iam::1:role/x"}`,
			wantHost: "vpce.example", wantRegion: "eu-west-1", wantService: "bedrock"},
		{name: "no region", backend: `"auth":{"type":"aws_sigv4"}`, wantErr: "auth.region: required"},
		{name: "key file", backend: `"region":"us-east-1","auth":{"type":"aws_sigv4","key_file":"/k"}`, wantErr: "takes no key_file"},
		{name: "bad region", backend: `"region":"us-east-1/x","auth":{"type":"aws_sigv4"}`, wantErr: `region: "us-east-1/x"`},
		{name: "bad role", backend: `"region":"us-east-1","auth":{"type":"aws_sigv4","role_arn":"admin"}`, wantErr: "auth.role_arn"},
		{name: "other service needs a host", backend: `"region":"us-east-1","auth":{"type":"aws_sigv4","service":"sagemaker"}`, wantErr: "host: required"},
		{name: "aws fields on a key type", backend: `"auth":{"type":"bearer","key_env":"X","region":"us-east-1"}`, wantErr: "belong to type aws_sigv4"},
		{name: "unknown auth field", backend: `"region":"us-east-1","auth":{"type":"aws_sigv4","secret_key":"x"}`, wantErr: "secret_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(`{"backends":[{"name":"b",` + tt.backend + `}]}`))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b := c.Backends[0]
			if b.Host != tt.wantHost || b.Auth.Region != tt.wantRegion || b.Auth.Service != tt.wantService {
				t.Errorf("host %q region %q service %q", b.Host, b.Auth.Region, b.Auth.Service)
			}
			if b.Auth.Signer() != nil {
				t.Error("Parse loaded credentials (only the upstream phase's LoadKeys does)")
			}
		})
	}
}
