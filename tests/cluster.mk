#  The cluster, included by the top Makefile: proxies behind HAProxy.
#
#  make demo-cluster   starts two proxies behind HAProxy in TCP mode
#                      (leastconn, health checks on their /readyz), CURVE
#                      workers dialled in to both and clients through
#                      HAProxy; stops one proxy and prints how the clients
#                      fared: served again through the other, how long the
#                      switch took, no byte lost on the survivor's pairs
#                      (~15 s). CLUSTER_CLIENTS, CLUSTER_WORKERS and
#                      CLUSTER_SLOTS change its size.
#
#  test_cluster, in `make test`, runs the same with fewer peers. Uses
#  BUILD, CC, CFLAGS, LDFLAGS, LDLIBS and HARNESS_OBJ from the top Makefile.

CLUSTER_OBJ  := $(BUILD)/obj/sq_cluster.o
DEMO_CLUSTER := $(BUILD)/tests/demo_cluster

.PHONY: demo-cluster

$(CLUSTER_OBJ): tests/integration/sq_cluster.c tests/integration/sq_cluster.h \
        tests/integration/sq_harness.h | $(BUILD)/obj
	$(CC) $(CFLAGS) -c $< -o $@

#  Over the pattern rule of the integration tests: it needs the cluster too
$(BUILD)/tests/test_cluster: tests/integration/test_cluster.c $(HARNESS_OBJ) $(CLUSTER_OBJ) \
        tests/sq_test.h | $(BUILD)/tests
	$(CC) $(CFLAGS) $(LDFLAGS) $< $(HARNESS_OBJ) $(CLUSTER_OBJ) -o $@ $(LDLIBS)

$(DEMO_CLUSTER): tests/cluster/demo_cluster.c $(HARNESS_OBJ) $(CLUSTER_OBJ) | $(BUILD)/tests
	$(CC) $(CFLAGS) -Itests/integration $(LDFLAGS) $< $(HARNESS_OBJ) $(CLUSTER_OBJ) -o $@ $(LDLIBS)

demo-cluster: test-deps
	@$(MAKE) --no-print-directory all $(DEMO_CLUSTER)
	@SQ_BUILD=$(BUILD) $(DEMO_CLUSTER)
