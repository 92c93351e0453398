package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// MetaConfigDigest is the dynamic metadata key (namespace
// DynamicMetadataNamespace) under which the router phase records
// Config.Digest of the config it routed with; the upstream phase compares it
// with its own before serving an attempt.
const MetaConfigDigest = "config_digest"

// Digest identifies what the two phases must agree on to serve a request
// together: the backends (names, models, schemas, overrides, hosts, key
// sources), the routing headers and body member, the client backend
// selection, the inspected paths and where endpoint metadata names the
// backend. Two documents that differ only in a per-phase limit
// (max_request_body_bytes, max_buffered_bytes and max_name_bytes bound the
// router phase, max_stream_event_bytes and max_decoded_response_bytes the
// upstream phase) have the same digest: each phase applies its own limits
// alone, so such a difference cannot misroute a request or send it to the
// wrong provider with the wrong key. Any other difference, including fields
// added later, changes the digest.
//
// It is computed from the validated, defaulted config, so the same document
// given as a StringValue to one phase and as a Struct to the other has one
// digest. Keys are not part of a Config (only where they are read from), so
// the digest carries no credential.
func (c *Config) Digest() string {
	cc := *c
	cc.MaxRequestBodyBytes, cc.MaxBufferedBytes, cc.MaxNameBytes = 0, 0, 0
	cc.MaxStreamEventBytes, cc.MaxDecodedResponseBytes = 0, 0
	js, err := json.Marshal(&cc)
	if err != nil {
		// Every field is a string, number, slice or map of those.
		panic("aigw config: digest: " + err.Error())
	}
	sum := sha256.Sum256(js)
	return hex.EncodeToString(sum[:12])
}
