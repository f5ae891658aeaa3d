package dev.lattice.trainer.engine;

import dev.lattice.parallel.comm.CommBuffer;
import dev.lattice.parallel.comm.CommStats;
import dev.lattice.parallel.comm.Communicator;
import dev.lattice.parallel.comm.ReduceOp;
import dev.lattice.parallel.comm.Work;

/** A communicator that hands every call to another one: tests override the calls they record. */
class ForwardingCommunicator implements Communicator {

    final Communicator inner;

    ForwardingCommunicator(Communicator inner) {
        this.inner = inner;
    }

    @Override
    public int rank() {
        return inner.rank();
    }

    @Override
    public int size() {
        return inner.size();
    }

    @Override
    public String name() {
        return inner.name();
    }

    @Override
    public void allReduce(CommBuffer b, long o, long c, ReduceOp op) {
        inner.allReduce(b, o, c, op);
    }

    @Override
    public void reduceScatter(CommBuffer s, long so, CommBuffer r, long ro, long c, ReduceOp op) {
        inner.reduceScatter(s, so, r, ro, c, op);
    }

    @Override
    public Work reduceScatterAsync(CommBuffer s, long so, CommBuffer r, long ro, long c, ReduceOp op) {
        return inner.reduceScatterAsync(s, so, r, ro, c, op);
    }

    @Override
    public void allGather(CommBuffer s, long so, CommBuffer r, long ro, long c) {
        inner.allGather(s, so, r, ro, c);
    }

    @Override
    public Work allGatherAsync(CommBuffer s, long so, CommBuffer r, long ro, long c) {
        return inner.allGatherAsync(s, so, r, ro, c);
    }

    @Override
    public void broadcast(CommBuffer b, long o, long c, int root) {
        inner.broadcast(b, o, c, root);
    }

    @Override
    public void send(CommBuffer b, long o, long c, int peer) {
        inner.send(b, o, c, peer);
    }

    @Override
    public void recv(CommBuffer b, long o, long c, int peer) {
        inner.recv(b, o, c, peer);
    }

    @Override
    public void barrier() {
        inner.barrier();
    }

    @Override
    public Work allReduceAsync(CommBuffer b, long o, long c, ReduceOp op) {
        return inner.allReduceAsync(b, o, c, op);
    }

    @Override
    public CommStats stats() {
        return inner.stats();
    }

    @Override
    public void close() {
        inner.close();
    }
}
