# The gossip simulator (tests/sim/*.c): runs the real cluster/gossip code on a virtual network.
# tests/sim/test_sim_gossip runs its short assertion scenarios; scripts/gossip-sweep the full sweep.
SIM_SRC := $(wildcard tests/sim/*.c)
SIM_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(SIM_SRC))
TEST_PROGRAMS += $(BIN)/gossip-sim

$(BIN)/gossip-sim: $(SIM_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(SIM_OBJ) $(LIB) $(LDLIBS)

-include $(SIM_OBJ:.o=.d)
