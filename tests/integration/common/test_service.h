/*
 * The service every transport's integration tests call, so that the same
 * behaviour is checked the same way on each transport:
 *   test.Echo/Echo    unary: the request back, its metadata too, plus
 *                     x-echo-method, x-transport, and the reply header
 *                     x-reply-md: yes; a compressed request gets a reply
 *                     that asks for compression and x-was-compressed: yes
 *   test.Echo/Fail    unary: the status named by request metadata
 *                     x-want-code (default NOT_FOUND), message "as you asked"
 *   test.Echo/Slow    unary: works until cancelled (deadline) or x-sleep-ms;
 *                     test_service_saw_cancel() tells whether it noticed
 *   test.Echo/Later   unary: answered 20 ms later from another thread
 *   test.Stream/Echo  bidi: each message back as "<n>:<text>"; headers
 *                     x-initial: hi; trailers x-trailer: bye
 *   test.Stream/Count server streaming: the first message is N; sends
 *                     "0".."N-1", then OK, or OUT_OF_RANGE "too few" if N <= 5
 *   test.Stream/Sum   client streaming: the sum of the numbers sent
 *   test.Stream/Flood server streaming: the first message is "N S"; sends N
 *                     messages of S bytes (each starts with its number) as
 *                     fast as the flow lets it; test_service_flood_sent()
 *                     counts those sent
 *   helloworld.Greeter/SayHello through protobuf-c ("Hello <name>")
 */
#ifndef SVC_TEST_SERVICE_H
#define SVC_TEST_SERVICE_H

#include <stdbool.h>
#include <svccomm/svccomm.h>

void test_service_register(svc_server *s);
/* Whether the last Slow call saw itself cancelled (waits up to 2 s). */
bool test_service_saw_cancel(void);
int test_service_flood_sent(void);
void test_service_reset(void);

/* Test helpers for streams. */
svc_msg *test_text(const char *text);
/* Receives one message and checks it is `want` (fails the test if not). */
void test_expect_text(svc_stream *st, const char *want);

#endif
