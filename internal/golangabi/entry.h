// What entry.c needs of api.h and processor_state.h, restated (api.h is not
// included, as exports.go explains); TestDeclarationsMatchAPIHeader checks
// the layout against api.h, TestEntryConstants the values against the Go
// side's.
#ifndef AIGW_GOLANGABI_ENTRY_H
#define AIGW_GOLANGABI_ENTRY_H

#include <stdint.h>

// aigw_process_state is api.h's processState.
typedef struct {
  void* req;
  int is_encoding;
  int state;
} aigw_process_state;

// FilterState::ProcessingHeader (contrib/golang/filters/http/source/processor_state.h).
#define AIGW_STATE_PROCESSING_HEADER 1
// GolangStatus::Continue (api.Continue).
#define AIGW_GOLANG_CONTINUE 2

#endif
