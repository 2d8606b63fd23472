/*
 * Out-of-line copies of the DPDK static-inline functions and macros that Rust
 * needs. rx/tx burst and bulk alloc are one call per burst; the mbuf free is
 * per frame, for the few a burst refuses or drops; the rest serve set-up and
 * statistics.
 */
#ifndef VNF_SHIM_H
#define VNF_SHIM_H
#include <stdint.h>

struct rte_mbuf;
struct rte_mempool;

/* rte_errno is a per-thread variable behind a macro. */
int vnf_rte_errno(void);

uint16_t vnf_rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id,
			      struct rte_mbuf **rx_pkts, uint16_t nb_pkts);
uint16_t vnf_rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id,
			      struct rte_mbuf **tx_pkts, uint16_t nb_pkts);

int vnf_rte_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
			       unsigned int count);
void vnf_rte_pktmbuf_free(struct rte_mbuf *m);

uint64_t vnf_rte_rdtsc(void);
unsigned int vnf_rte_mempool_in_use_count(const struct rte_mempool *mp);

#endif
