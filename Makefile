# Shoal build. `make` builds bin/shoal; `make run` serves on 127.0.0.1:11211;
# `make test` installs missing test dependencies, builds, and runs every test.
#
# Sources are found by wildcard so that adding a file needs no edit here. One archive per module,
# so that a module links only what it may depend on (the READMEs; tests/layering checks includes):
#   proto/*.c                      -> libproto.a  (pure protocol code; depends on nothing of ours)
#   cluster/gossip/**.c            -> libgossip.a (membership; may use proto)
#   cluster/route/**.c             -> libroute.a  (placement and forwarding; may use proto)
#   server/*.c except main.c       -> libserver.a (may use all of the above)
#   server/main.c                  -> bin/shoal
#   tests/unit/test_proto_*.c      -> a Check binary each, linked with libproto.a alone
#   tests/unit/test_*.c (others)   -> a Check binary each, linked with every archive
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
GOSSIP_SRC  := $(wildcard cluster/gossip/*.c cluster/gossip/*/*.c)
ROUTE_SRC   := $(wildcard cluster/route/*.c cluster/route/*/*.c)
SERVER_SRC  := $(filter-out server/main.c,$(wildcard server/*.c))
obj          = $(patsubst %.c,$(BUILD)/%.o,$(1))
PROTO_LIB   := $(BUILD)/libproto.a
GOSSIP_LIB  := $(BUILD)/libgossip.a
ROUTE_LIB   := $(BUILD)/libroute.a
SERVER_LIB  := $(BUILD)/libserver.a
LIB_OBJ     := $(call obj,$(PROTO_SRC) $(GOSSIP_SRC) $(ROUTE_SRC) $(SERVER_SRC))
# In link order: a module before the ones it uses.
LIB         := $(SERVER_LIB) $(GOSSIP_LIB) $(ROUTE_LIB) $(PROTO_LIB)

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

$(PROTO_LIB): $(call obj,$(PROTO_SRC))
$(GOSSIP_LIB): $(call obj,$(GOSSIP_SRC))
$(ROUTE_LIB): $(call obj,$(ROUTE_SRC))
$(SERVER_LIB): $(call obj,$(SERVER_SRC))
$(LIB):
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(BIN)/shoal: $(BUILD)/server/main.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -MMD -MP -o $@ $< $(LIB) $(LDFLAGS) $(CHECK_LIBS) $(LDLIBS)

# proto's tests link proto alone: a call from proto into another module fails to link here.
$(BUILD)/tests/test_proto_%: tests/unit/test_proto_%.c $(PROTO_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CHECK_CFLAGS) -MMD -MP -o $@ $< $(PROTO_LIB) $(LDFLAGS) $(CHECK_LIBS) $(LDLIBS)

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
SANITIZED_TEST_ENV = SHOAL_TEST_SUT_TIMEOUT=15 SHOAL_TEST_CLOCK_SLACK=3 SHOAL_TEST_READ_TIMEOUT=15 \
	SHOAL_TEST_SANITIZED=1

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
