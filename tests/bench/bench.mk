# shoal-bench (installed) and shoal-nullserver (a do-nothing server, for tests and as the
# benchmark's speed-of-light reference). Included by the top-level Makefile.
#
# The pure modules (histogram, key patterns, values, reply lines, options) form a small library that
# shoal-bench and the tests/unit/test_bench_*.c Check binaries link.

BENCH_CORE_SRC := tests/bench/hist.c tests/bench/keydist.c tests/bench/valuegen.c tests/bench/reply.c \
                  tests/bench/options.c
BENCH_CORE_OBJ := $(patsubst tests/bench/%.c,$(BUILD)/bench/%.o,$(BENCH_CORE_SRC))
BENCH_CORE_LIB := $(BUILD)/bench/libshoalbench.a
BENCH_MAIN_SRC := tests/bench/main.c tests/bench/worker.c tests/bench/report.c
BENCH_MAIN_OBJ := $(patsubst tests/bench/%.c,$(BUILD)/bench/%.o,$(BENCH_MAIN_SRC))
NULLSERVER_OBJ := $(BUILD)/bench/nullserver.o
BENCH_UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_bench_*.c))

PROGRAMS      += $(BIN)/shoal-bench
TEST_PROGRAMS += $(BIN)/shoal-nullserver

$(BUILD)/bench/%.o: tests/bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# Depends on this file too: a module moved into the library must rebuild it.
$(BENCH_CORE_LIB): $(BENCH_CORE_OBJ) tests/bench/bench.mk
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $(filter %.o,$^)

$(BIN)/shoal-bench: $(BENCH_MAIN_OBJ) $(BENCH_CORE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lm

$(BIN)/shoal-nullserver: $(NULLSERVER_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The bench's unit tests are built by the Makefile's Check rule; they also need the library.
$(BENCH_UNIT_BIN): $(BENCH_CORE_LIB)
$(BENCH_UNIT_BIN): LDLIBS += $(BENCH_CORE_LIB) -lm

-include $(BENCH_CORE_OBJ:.o=.d) $(BENCH_MAIN_OBJ:.o=.d) $(NULLSERVER_OBJ:.o=.d)
