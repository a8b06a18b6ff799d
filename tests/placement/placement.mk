# bin/shoal-ring: prints where the ketama ring puts keys (used by the placement tests).
TEST_PROGRAMS += $(BIN)/shoal-ring

$(BIN)/shoal-ring: $(BUILD)/tests/placement/shoal_ring.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/placement/shoal_ring.o: tests/placement/shoal_ring.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

-include $(BUILD)/tests/placement/shoal_ring.d
