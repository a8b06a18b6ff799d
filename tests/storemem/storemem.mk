# storemem: resident bytes per item of the storage engine (not run by the suite; see
# server/STORAGE.md).
TEST_PROGRAMS += $(BUILD)/tests/storemem

$(BUILD)/tests/storemem: tests/storemem/storemem.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(LIB) $(LDFLAGS) $(LDLIBS)
