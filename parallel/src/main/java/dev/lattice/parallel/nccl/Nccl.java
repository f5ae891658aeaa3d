package dev.lattice.parallel.nccl;

import dev.lattice.parallel.comm.ReduceOp;
import dev.lattice.parallel.cuda.CudaException;
import org.bytedeco.cuda.global.nccl;
import org.bytedeco.cuda.nccl.ncclConfig_t;
import org.bytedeco.javacpp.BytePointer;

/** NCCL result codes, reduction ops and the communicator configuration. */
final class Nccl {

    /** NCCL_CONFIG_UNDEF_INT: "let NCCL choose". */
    private static final int UNDEF = Integer.MIN_VALUE;

    private Nccl() {
    }

    /** Throws naming {@code what} unless {@code rc} is ncclSuccess. */
    static void check(int rc, String what) {
        if (rc != nccl.ncclSuccess) {
            throw error(rc, what);
        }
    }

    /**
     * For calls on a non-blocking communicator: true when the call is still in progress (poll the communicator's
     * state), false when it is done; throws naming {@code what} on any error.
     */
    static boolean inProgress(int rc, String what) {
        if (rc == nccl.ncclInProgress) {
            return true;
        }
        check(rc, what);
        return false;
    }

    static CudaException error(int rc, String what) {
        return new CudaException(what + " failed: " + errorString(rc) + " (ncclResult " + rc + ")");
    }

    static String errorString(int rc) {
        try {
            BytePointer s = nccl.ncclGetErrorString(rc);
            return s == null ? "NCCL error " + rc : s.getString();
        } catch (Throwable t) {
            return "NCCL error " + rc;
        }
    }

    static int redOp(ReduceOp op) {
        return switch (op) {
            case SUM -> nccl.ncclSum;
            case AVG -> nccl.ncclAvg;
            case MAX -> nccl.ncclMax;
        };
    }

    /**
     * {@code -Dlattice.nccl.ctaPolicy=efficiency|zero}: NCCL's CTA policy for every communicator (fewer SMs for the
     * collectives that overlap the products; NCCL 2.27+), else NCCL's default.
     */
    static int ctaPolicy() {
        String p = System.getProperty("lattice.nccl.ctaPolicy", "default");
        return switch (p) {
            case "default" -> UNDEF;
            case "efficiency" -> nccl.NCCL_CTA_POLICY_EFFICIENCY;
            case "zero" -> nccl.NCCL_CTA_POLICY_ZERO;
            default -> throw new IllegalArgumentException("-Dlattice.nccl.ctaPolicy=" + p
                    + ": expected default, efficiency or zero");
        };
    }

    /**
     * NCCL_CONFIG_INITIALIZER with {@code blocking = 0}. Non-blocking communicators return ncclInProgress instead of
     * blocking the host while peers connect (at init and at the first use of a channel), so every wait, including
     * a missing peer's, is one we poll and bound with the world's timeout. Fields the running NCCL does not know
     * are ignored by it (it reads {@code min(size, its own sizeof)}).
     */
    static ncclConfig_t nonBlockingConfig() {
        return config(false);
    }

    /** As {@link #nonBlockingConfig}, or with {@code blocking = 1} (see {@code NcclWorld}'s blocking groups). */
    static ncclConfig_t config(boolean blocking) {
        ncclConfig_t c = new ncclConfig_t();
        int size = org.bytedeco.javacpp.Loader.sizeof(ncclConfig_t.class);
        c.size(size > 0 ? size : 88); // 88: sizeof(ncclConfig_t) of the NCCL 2.29 headers the bindings were built on
        c.magic(nccl.NCCL_API_MAGIC);
        c.version(nccl.NCCL_VERSION_CODE);
        c.blocking(blocking ? 1 : 0);
        c.cgaClusterSize(UNDEF);
        c.minCTAs(UNDEF);
        c.maxCTAs(UNDEF);
        c.netName((BytePointer) null);
        c.splitShare(UNDEF);
        c.trafficClass(UNDEF);
        c.commName((BytePointer) null);
        c.collnetEnable(UNDEF);
        c.CTAPolicy(ctaPolicy());
        c.shrinkShare(UNDEF);
        c.nvlsCTAs(UNDEF);
        c.nChannelsPerNetPeer(UNDEF);
        c.nvlinkCentricSched(UNDEF);
        c.graphUsageMode(UNDEF);
        c.numRmaCtx(UNDEF);
        return c;
    }
}
