// Sanitizer defaults built into every fuzz target, so that running one by hand
// behaves like scripts/fuzz.sh: any undefined behaviour is a crash (not just a
// message), with a stack, except what ubsan.supp lists (third-party code).
// UBSAN_OPTIONS in the environment still overrides these.
#ifndef TT_UBSAN_SUPP
#error "TT_UBSAN_SUPP (the path of tests/fuzz/ubsan.supp) must be defined by meson"
#endif

extern "C" const char* __ubsan_default_options() {
  return "halt_on_error=1:print_stacktrace=1:suppressions=" TT_UBSAN_SUPP;
}
