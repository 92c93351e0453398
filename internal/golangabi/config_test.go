package golangabi

import (
	"strings"
	"testing"
	"unsafe"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/aigw/aigw/filter"
)

// routeConfig is an httpConfig as Envoy builds it for a per-route
// plugin_config: no metrics, so nothing here calls into Envoy.
func routeConfig(t *testing.T, name string, raw []byte) *cHTTPConfig {
	t.Helper()
	return &cHTTPConfig{
		pluginNamePtr: unsafe.Pointer(unsafe.StringData(name)), pluginNameLen: uint64(len(name)),
		configPtr: unsafe.Pointer(unsafe.SliceData(raw)), configLen: uint64(len(raw)),
		isRouteConfig: 1, concurrency: 3,
	}
}

func anyBytes(t *testing.T, doc string) []byte {
	t.Helper()
	a, err := anypb.New(wrapperspb.String(doc))
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPluginConfigLifecycle(t *testing.T) {
	parentID, err := newPluginConfig(routeConfig(t, filter.Name, anyBytes(t, `{"backends":[{"name":"a","models":["m"]}]}`)))
	if err != nil || parentID == 0 {
		t.Fatalf("id %d, err %v", parentID, err)
	}
	childID, err := newPluginConfig(routeConfig(t, filter.Name, anyBytes(t, `{"backends":[{"name":"b","models":["m"]}]}`)))
	if err != nil || childID == parentID {
		t.Fatalf("id %d, err %v", childID, err)
	}
	if p := workers.ws.Load(); p == nil || len(*p) < 3 {
		t.Fatal("worker table not sized to Envoy's concurrency")
	}
	mergedID, err := mergePluginConfig(filter.Name, parentID, childID)
	if err != nil {
		t.Fatal(err)
	}
	merged := loadConfig(mergedID)
	if merged == nil || len(merged.Backends) != 1 || merged.Backends[0].Name != "b" {
		t.Fatalf("merged config %+v: the per-route config replaces the listener one", merged)
	}
	if _, err := mergePluginConfig(filter.Name, parentID, 1<<40); err == nil {
		t.Fatal("merge with an unknown id succeeded")
	}
	if _, err := mergePluginConfig("other", parentID, childID); err == nil {
		t.Fatal("merge for another plugin name succeeded")
	}
	for _, id := range []uint64{parentID, childID, mergedID} {
		destroyPluginConfig(id, false)
		if loadConfig(id) != nil {
			t.Fatalf("config %d still there after destroy", id)
		}
	}
	destroyPluginConfig(parentID, false) // twice: a no-op
}

func TestPluginConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, plugin string
		raw          []byte
		want         string
	}{
		{"other plugin", "not-aigw", anyBytes(t, `{}`), `plugin_name "not-aigw"`},
		{"not an Any", filter.Name, []byte{0xff, 0xff, 0xff}, "not a serialized google.protobuf.Any"},
		{"bad aigw config", filter.Name, anyBytes(t, `{"backends":[{"name":"a","models":["m"],"bogus":1}]}`), "bogus"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := newPluginConfig(routeConfig(t, tc.plugin, tc.raw))
			if err == nil || id != 0 || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("id %d, err %v; want an error mentioning %q", id, err, tc.want)
			}
		})
	}
}
