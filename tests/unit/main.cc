// The one file that defines Catch2's main; the TAP reporter lets meson count each case.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
#include <catch2/catch_reporter_tap.hpp>
