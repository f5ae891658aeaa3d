package dev.lattice.parallel.nccl;

import dev.lattice.parallel.cuda.Cuda;
import org.bytedeco.cuda.cudart.CUevent_st;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

import static org.bytedeco.cuda.global.cudart.cudaEventCreateWithFlags;
import static org.bytedeco.cuda.global.cudart.cudaEventDestroy;
import static org.bytedeco.cuda.global.cudart.cudaEventDisableTiming;

/**
 * Completion events of one communicator, reused: each pending asynchronous operation holds its own until it is
 * awaited, blocking operations borrow one for their duration.
 */
final class EventPool {

    private final String owner;
    private final ArrayDeque<CUevent_st> free = new ArrayDeque<>();
    private final List<CUevent_st> all = new ArrayList<>();

    EventPool(String owner) {
        this.owner = owner;
    }

    /** An event (created on the current device when none is free). */
    synchronized CUevent_st take() {
        CUevent_st e = free.poll();
        if (e == null) {
            e = create("completion event of " + owner);
            all.add(e);
        }
        return e;
    }

    synchronized void give(CUevent_st e) {
        free.push(e);
    }

    /** Destroys every event this pool made (on the current device). */
    synchronized void destroyAll() {
        for (CUevent_st e : all) {
            Cuda.check(cudaEventDestroy(e), "cudaEventDestroy of a completion event of " + owner);
        }
        all.clear();
        free.clear();
    }

    /** Events only order streams and are polled; timing them would cost for nothing. */
    static CUevent_st create(String what) {
        CUevent_st e = new CUevent_st();
        Cuda.check(cudaEventCreateWithFlags(e, cudaEventDisableTiming), "cudaEventCreateWithFlags for " + what);
        return e;
    }
}
