// loadcheck loads the module the way Envoy's dynamic-modules loader does
// (source/extensions/dynamic_modules/dynamic_modules.cc: RTLD_LOCAL|RTLD_LAZY,
// then on_program_init compared with kAbiVersion) and drives the config and
// filter lifecycle hooks, which call no stream callbacks.
//
// usage: loadcheck <library.so> <json config> <file with Struct bytes>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "abi_version.h"

// The module logs through these; -rdynamic exports them to it like Envoy's
// binary does.
bool envoy_dynamic_module_callback_log_enabled(envoy_dynamic_module_type_log_level level) {
  (void)level;
  return true;
}

void envoy_dynamic_module_callback_log(envoy_dynamic_module_type_log_level level,
                                       const char* message_ptr, size_t message_length) {
  printf("log[%d]: %.*s\n", (int)level, (int)message_length, message_ptr);
}

// config_new defines the module's counters, as Envoy lets it only there.
static size_t counters_defined;
envoy_dynamic_module_type_metrics_result envoy_dynamic_module_callback_http_filter_config_define_counter(
    envoy_dynamic_module_type_http_filter_config_envoy_ptr config, envoy_dynamic_module_type_buffer_module_ptr name,
    size_t name_length, size_t* counter_id_ptr) {
  (void)config;
  printf("counter defined: %.*s\n", (int)name_length, name);
  *counter_id_ptr = counters_defined++;
  return envoy_dynamic_module_type_metrics_result_Success;
}

// Referenced for increments; nothing in this program streams, so never called.
envoy_dynamic_module_type_metrics_result envoy_dynamic_module_callback_http_filter_increment_counter(
    envoy_dynamic_module_type_http_filter_envoy_ptr filter, size_t id, uint64_t value) {
  (void)filter;
  (void)id;
  (void)value;
  printf("FAIL: counter incremented outside a stream\n");
  exit(1);
}

static void* sym(void* h, const char* name) {
  void* p = dlsym(h, name);
  if (p == NULL) {
    printf("missing symbol %s\n", name);
    exit(1);
  }
  return p;
}

static void fail(const char* what) {
  printf("FAIL: %s\n", what);
  exit(1);
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fail("usage: loadcheck <library.so> <json> <struct file>");
  }
  void* h = dlopen(argv[1], RTLD_LOCAL | RTLD_LAZY);
  if (h == NULL) {
    printf("dlopen: %s\n", dlerror());
    return 1;
  }

  envoy_dynamic_module_type_abi_version_envoy_ptr (*init)(void) =
      sym(h, "envoy_dynamic_module_on_program_init");
  const char* version = init();
  if (version == NULL || strcmp(version, kAbiVersion) != 0) {
    fail("on_program_init did not return kAbiVersion");
  }
  printf("abi version ok\n");

  __typeof__(&envoy_dynamic_module_on_http_filter_config_new) config_new =
      sym(h, "envoy_dynamic_module_on_http_filter_config_new");
  __typeof__(&envoy_dynamic_module_on_http_filter_config_destroy) config_destroy =
      sym(h, "envoy_dynamic_module_on_http_filter_config_destroy");
  __typeof__(&envoy_dynamic_module_on_http_filter_new) filter_new =
      sym(h, "envoy_dynamic_module_on_http_filter_new");
  __typeof__(&envoy_dynamic_module_on_http_filter_destroy) filter_destroy =
      sym(h, "envoy_dynamic_module_on_http_filter_destroy");
  __typeof__(&envoy_dynamic_module_on_http_filter_per_route_config_new) per_route_new =
      sym(h, "envoy_dynamic_module_on_http_filter_per_route_config_new");

  const char* json = argv[2];
  const char* name = "aigw-upstream";
  void* envoy_config = (void*)0x1000; // opaque to the module

  if (config_new(envoy_config, "other", 5, json, strlen(json)) != NULL) {
    fail("filter_name other accepted");
  }
  printf("filter_name \"other\" rejected\n");

  if (config_new(envoy_config, name, strlen(name), "{\"backends\": [", 14) != NULL) {
    fail("bad JSON accepted");
  }
  printf("bad JSON rejected\n");

  const void* cfg = config_new(envoy_config, name, strlen(name), json, strlen(json));
  if (cfg == NULL) {
    fail("JSON config rejected");
  }
  printf("JSON config accepted\n");

  FILE* f = fopen(argv[3], "rb");
  if (f == NULL) {
    fail("open struct file");
  }
  char pb[4096];
  size_t pb_len = fread(pb, 1, sizeof pb, f);
  fclose(f);
  const void* cfg2 = config_new(envoy_config, name, strlen(name), pb, pb_len);
  if (cfg2 == NULL || cfg2 == cfg) {
    fail("Struct config rejected");
  }
  printf("Struct config accepted\n");

  // Two filters get distinct non-NULL handles; a filter no hook ran for is
  // destroyed without its Go side ever being made. Envoy destroys a filter
  // once and forgets its pointer (filter.cc:24-29: destroy() nulls
  // in_module_filter_), so no repeated destroy is tried.
  const void* f1 = filter_new(cfg, (void*)0x2000);
  const void* f2 = filter_new(cfg, (void*)0x3000);
  if (f1 == NULL || f2 == NULL || f1 == f2) {
    fail("filter_new");
  }
  filter_destroy(f1);
  filter_destroy(f2);
  if (filter_new(NULL, (void*)0x2000) != NULL) {
    fail("filter_new without a config");
  }
  printf("filter created\n");

  if (per_route_new("x", 1, "{}", 2) != NULL) {
    fail("per-route config accepted");
  }
  printf("per-route config rejected\n");

  // Envoy destroys a config after every filter made from it (each holds a
  // shared_ptr to it): no filter_new follows (a filter made for a config
  // gone would answer its request with a 500 at its first hook).
  config_destroy(cfg);
  config_destroy(cfg2);
  printf("done\n");
  return 0;
}
