#!/usr/bin/env bash
# Installs the build into a scratch prefix and uses it the two ways a user
# would: find_package(svccomm) from CMake and pkg-config from a Makefile-ish
# compile. Also checks that the shared library exports only svc_ symbols.
set -euo pipefail
src=$1 build=$2 prefix=$3
rm -rf "$prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null
lib=$(find "$prefix" -name 'libsvccomm.so' | head -n 1)
pcdir=$(dirname "$(find "$prefix" -name svccomm.pc | head -n 1)")
cfgdir=$(dirname "$(find "$prefix" -name svccommConfig.cmake | head -n 1)")
[ -f "$lib" ] && [ -d "$pcdir" ] && [ -d "$cfgdir" ] || { echo "install is incomplete"; exit 1; }
[ -f "$prefix/include/svccomm/svccomm.h" ] || { echo "headers not installed"; exit 1; }

foreign=$(nm -D --defined-only "$lib" | awk '$2 ~ /[TDBRW]/ {print $3}' | grep -v '^svc_' || true)
if [ -n "$foreign" ]; then
    echo "symbols exported without the svc_ prefix:"; echo "$foreign"; exit 1
fi
echo "exports: $(nm -D --defined-only "$lib" | awk '$2 ~ /T/' | wc -l) functions, all svc_"

work=$prefix/consumer
mkdir -p "$work"
cat > "$work/main.c" <<'C'
#include <stdio.h>
#include <string.h>
#include <svccomm/svccomm.h>

static void hello(svc_call *c, void *ud)
{
    (void)ud;
    svc_msg *m;
    svc_msg_new_data("hi", 2, NULL, &m);
    svc_call_reply(c, m);
}

int main(void)
{
    svc_ctx *ctx;
    svc_server *s;
    svc_client *c;
    svc_msg *resp = NULL;
    if (svc_ctx_new(NULL, &ctx) || svc_server_new(ctx, &s) ||
        svc_server_handle(s, "a.B/C", hello, NULL) || svc_server_listen(s, "inproc://consumer") ||
        svc_client_new(ctx, "inproc://consumer", NULL, &c))
        return 1;
    svc_code rc = svc_client_call(c, "a.B/C", NULL, &resp, NULL);
    int ok = rc == SVC_OK && svc_msg_len(resp) == 2 && memcmp(svc_msg_data(resp), "hi", 2) == 0;
    printf("consumer: %s %s\n", svc_code_name(rc), ok ? "hi" : "?");
    svc_msg_free(resp);
    svc_client_free(c);
    svc_server_free(s);
    svc_ctx_free(ctx);
    return ok ? 0 : 1;
}
C
cat > "$work/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.25)
project(consumer C)
find_package(svccomm REQUIRED)
add_executable(consumer main.c)
target_link_libraries(consumer PRIVATE svccomm::svccomm)
CM
# The build's own flags (sanitizers: their runtime must come with the
# program), empty for a plain build.
cflags=${SVC_CONSUMER_CFLAGS:-}
ldflags=${SVC_CONSUMER_LDFLAGS:-}
cmake -S "$work" -B "$work/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="$cflags" \
    -DCMAKE_EXE_LINKER_FLAGS="$ldflags" >/dev/null
cmake --build "$work/build" >/dev/null
LD_LIBRARY_PATH=$(dirname "$lib") "$work/build/consumer"

flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs svccomm)
gcc -std=c11 $cflags -o "$work/consumer_pc" "$work/main.c" $flags $ldflags
LD_LIBRARY_PATH=$(dirname "$lib") "$work/consumer_pc"
echo "install test passed"
