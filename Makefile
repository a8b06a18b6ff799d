# Shoal build. `make` builds bin/shoal; `make run` serves on 127.0.0.1:11211;
# `make test` installs missing test dependencies, builds, and runs every test.
#
# Sources are found by wildcard so that adding a file needs no edit here:
#   proto/*.c                      -> libshoal.a (pure protocol code)
#   server/*.c except main.c       -> libshoal.a
#   cluster/*.c, cluster/*/*.c     -> libshoal.a
#   server/main.c                  -> bin/shoal
#   tests/unit/test_*.c            -> one Check binary each, linked with libshoal.a
# Extra programs (benchmarks, simulators) bring their own fragment: tests/*/*.mk.

CC      ?= cc
OPT     ?= -O2 -g
SAN     ?=
CFLAGS  += $(OPT) $(SAN) -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -pthread -I.
LDFLAGS += $(SAN) -pthread
LDLIBS  +=

BUILD   ?= build/default
BIN     ?= bin
PREFIX  ?= /usr/local
DESTDIR ?=

PROTO_SRC   := $(wildcard proto/*.c)
SERVER_SRC  := $(filter-out server/main.c,$(wildcard server/*.c))
CLUSTER_SRC := $(wildcard cluster/*.c cluster/*/*.c)
LIB_SRC     := $(PROTO_SRC) $(SERVER_SRC) $(CLUSTER_SRC)
LIB_OBJ     := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRC))
LIB         := $(BUILD)/libshoal.a

UNIT_SRC    := $(wildcard tests/unit/test_*.c)
UNIT_BIN    := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt)

PROGRAMS := $(BIN)/shoal

.PHONY: all run test unit test-programs deps install uninstall clean asan tsan clang
.DEFAULT_GOAL := all

# Fragments add their binaries to PROGRAMS (installed) or TEST_PROGRAMS (built for tests only).
-include $(wildcard tests/*/*.mk)

all: $(PROGRAMS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(BIN)/shoal: $(BUILD)/server/main.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -MMD -MP -o $@ $< $(LIB) $(LDFLAGS) $(CHECK_LIBS) $(LDLIBS)

unit: $(UNIT_BIN)

# Named so that a sub-make (asan, tsan, clang) expands TEST_PROGRAMS with its own BIN.
test-programs: $(TEST_PROGRAMS)

run: $(BIN)/shoal
	$(BIN)/shoal -l 127.0.0.1 -p 11211

# Installs (with apt-get) whatever the tests need and is missing.
deps:
	@scripts/install-deps

test: deps
	@$(MAKE) --no-print-directory all unit test-programs
	@SHOAL_BIN=$(abspath $(BIN))/shoal BIN_DIR=$(abspath $(BIN)) UNIT_DIR=$(abspath $(BUILD))/tests \
		tests/run

# Sanitized servers answer several times slower: the tests' hang and clock limits widen to match.
SANITIZED_TEST_ENV = SHOAL_TEST_SUT_TIMEOUT=15 SHOAL_TEST_CLOCK_SLACK=3 SHOAL_TEST_READ_TIMEOUT=15

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer.
asan:
	@$(SANITIZED_TEST_ENV) $(MAKE) --no-print-directory test BUILD=build/asan BIN=build/asan/bin OPT="-O1 -g -fno-omit-frame-pointer" \
		SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"

# The suite under ThreadSanitizer (threaded tests are what it is for).
tsan:
	@$(SANITIZED_TEST_ENV) $(MAKE) --no-print-directory test BUILD=build/tsan BIN=build/tsan/bin OPT="-O1 -g" SAN="-fsanitize=thread"

# The same build with clang, warnings as errors.
clang:
	@$(MAKE) --no-print-directory all unit test-programs CC=clang BUILD=build/clang BIN=build/clang/bin

install: $(BIN)/shoal
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(PROGRAMS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 $(wildcard man/*.1) $(DESTDIR)$(PREFIX)/share/man/man1/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(notdir $(PROGRAMS)))
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/share/man/man1/,$(notdir $(wildcard man/*.1)))

clean:
	rm -rf build bin

-include $(LIB_OBJ:.o=.d) $(BUILD)/server/main.d $(UNIT_BIN:=.d)
