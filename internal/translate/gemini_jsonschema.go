package translate

import (
	"strconv"
	"strings"

	"github.com/aigw/aigw/internal/bodyscan"
)

// response_format json_schema -> Gemini's generationConfig.responseJsonSchema
// (with responseMimeType application/json). Vertex AI v1 documents the part of
// JSON Schema it honours (GenerationConfig.responseJsonSchema: "While the full
// JSON Schema may be sent, not all features are supported. Specifically, only
// the following properties are supported: $id, $defs, $ref, $anchor, type,
// format, title, description, enum (for strings and numbers), items,
// prefixItems, minItems, maxItems, minimum, maximum, anyOf, oneOf
// (interpreted the same as anyOf), properties, additionalProperties,
// required. The non-standard propertyOrdering property may also be set. ...
// If $ref is set on a sub-schema, no other properties, except for those
// starting as a $, may be set."; the aiplatform v1 discovery document, as
// rendered at https://pub.dev/documentation/googleapis/latest/aiplatform_v1/GoogleCloudAiplatformV1GenerationConfig/responseJsonSchema.html).
//
// The client's schema is sent as is once every keyword in it is one of
// those, or an annotation that does not shape the output ($schema, $comment,
// default, examples, deprecated, readOnly, writeOnly). Any other keyword
// (pattern, minLength, const, allOf, not, if/then, patternProperties,
// definitions, ...) would be a constraint the response does not keep: a 400
// naming it, rather than output that silently breaks the client's schema.

// geminiSchemaKeyword classifies a JSON Schema keyword for Vertex: what its
// value holds, or unsupported.
type geminiSchemaKeyword uint8

const (
	kwUnsupported geminiSchemaKeyword = iota
	kwValue                           // a value that holds no schema
	kwSchema                          // one schema (or a boolean schema)
	kwSchemaArray                     // an array of schemas
	kwSchemaMap                       // an object of name -> schema
	kwEnum                            // an array of strings and numbers
)

var geminiSchemaKeywords = map[string]geminiSchemaKeyword{
	"$id": kwValue, "$anchor": kwValue, "$ref": kwValue, "$defs": kwSchemaMap,
	"type": kwValue, "format": kwValue, "title": kwValue, "description": kwValue,
	"enum": kwEnum, "items": kwSchema, "prefixItems": kwSchemaArray,
	"minItems": kwValue, "maxItems": kwValue, "minimum": kwValue, "maximum": kwValue,
	"anyOf": kwSchemaArray, "oneOf": kwSchemaArray,
	"properties": kwSchemaMap, "additionalProperties": kwSchema, "required": kwValue,
	"propertyOrdering": kwValue,
	// Annotations: no effect on the output's shape.
	"$schema": kwValue, "$comment": kwValue, "default": kwValue, "examples": kwValue,
	"deprecated": kwValue, "readOnly": kwValue, "writeOnly": kwValue,
}

// geminiSchemaMaxDepth bounds the nesting of sub-schemas checked (each level
// rescans its own value, so the check's cost is the schema's size times the
// depth).
const geminiSchemaMaxDepth = 64

// schemaPath is the location of a sub-schema, built into a parameter name
// only when an error names it.
type schemaPath struct {
	parent *schemaPath
	seg    string // ".key" or "[i]"
}

func (p *schemaPath) param(last string) string {
	var segs []string
	for q := p; q != nil; q = q.parent {
		segs = append(segs, q.seg)
	}
	var b strings.Builder
	b.WriteString("response_format.json_schema.schema")
	for i := len(segs) - 1; i >= 0; i-- {
		b.WriteString(segs[i])
	}
	b.WriteString(last)
	return b.String()
}

// checkGeminiSchema checks a response_format JSON Schema against what Vertex
// honours; raw is a value of the already validated request body.
func checkGeminiSchema(raw []byte) error {
	return checkGeminiSubschema(raw, nil, 0)
}

func checkGeminiSubschema(raw []byte, at *schemaPath, depth int) error {
	switch firstByte(raw) {
	case 't', 'f':
		return nil // a boolean schema
	case '{':
	default:
		return invalid(at.param(""), "a JSON Schema must be an object or a boolean")
	}
	if depth >= geminiSchemaMaxDepth {
		return unsupported(at.param(""), "response_format json_schema nests deeper than %d schemas, more than a gcp_vertex_gemini backend is sent", geminiSchemaMaxDepth)
	}
	hasRef, other := false, ""
	err := forEachMember(raw, func(key string, vs, ve int) error {
		v := raw[vs:ve]
		kind := geminiSchemaKeywords[key]
		if strings.HasPrefix(key, "$") {
			hasRef = hasRef || key == "$ref"
		} else if other == "" {
			other = strings.Clone(key)
		}
		switch kind {
		case kwUnsupported:
			return unsupported(at.param("."+key), "JSON Schema keyword %q is not supported by a gcp_vertex_gemini backend (Vertex AI's responseJsonSchema honours $id, $defs, $ref, $anchor, type, format, title, description, enum, items, prefixItems, minItems, maxItems, minimum, maximum, anyOf, oneOf, properties, additionalProperties, required, propertyOrdering)", key)
		case kwSchema:
			if key == "items" && firstByte(v) == '[' {
				return unsupported(at.param(".items"), "items as an array of schemas is not supported by a gcp_vertex_gemini backend; use prefixItems")
			}
			return checkGeminiSubschema(v, &schemaPath{at, "." + key}, depth+1)
		case kwSchemaArray:
			here := &schemaPath{at, "." + key}
			if firstByte(v) != '[' {
				return invalid(here.param(""), "%s must be an array of schemas", key)
			}
			return bodyscan.Elements(v, func(i, es, ee int) error {
				return checkGeminiSubschema(v[es:ee], &schemaPath{here, "[" + strconv.Itoa(i) + "]"}, depth+1)
			})
		case kwSchemaMap:
			here := &schemaPath{at, "." + key}
			if firstByte(v) != '{' {
				return invalid(here.param(""), "%s must be an object of schemas", key)
			}
			return forEachMember(v, func(name string, ss, se int) error {
				return checkGeminiSubschema(v[ss:se], &schemaPath{here, "." + name}, depth+1)
			})
		case kwEnum:
			if firstByte(v) != '[' {
				return invalid(at.param(".enum"), "enum must be an array")
			}
			return bodyscan.Elements(v, func(i, es, ee int) error {
				switch c := firstByte(v[es:ee]); {
				case c == '"', c == '-', c >= '0' && c <= '9':
					return nil
				}
				return unsupported(at.param(".enum["+strconv.Itoa(i)+"]"), "enum values other than strings and numbers are not supported by a gcp_vertex_gemini backend")
			})
		}
		return nil
	})
	if err != nil {
		return err
	}
	if hasRef && other != "" {
		return unsupported(at.param("."+other), "a schema with $ref cannot also set %q for a gcp_vertex_gemini backend (Vertex AI allows only $-keywords beside $ref)", other)
	}
	return nil
}

// firstByte is the first non-space byte of a JSON value, 0 if none.
func firstByte(v []byte) byte {
	for _, c := range v {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c
	}
	return 0
}
