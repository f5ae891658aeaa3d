package dev.lattice.parallel.pipeline;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Deterministic discrete simulation of all ranks' action lists against each other.
 *
 * <p>Model: each rank executes its actions in order. A compute action runs at once if its inputs are present. A
 * communication action posts all of its ops when the rank reaches it and completes when every op has completed; the
 * n-th send on a channel is matched with the n-th receive on that channel (FIFO, like NCCL or the in-JVM
 * communicator), and the pair must agree on kind, microbatch and both chunks. A receive completes once its matching
 * send has been posted; a send completes at once ({@link Delivery#BUFFERED}) or once its matching receive has been
 * posted ({@link Delivery#RENDEZVOUS}, blocking sends). Ranks are advanced round-robin until all finish or none can
 * move; the latter is a deadlock.
 *
 * <p>Dataflow is checked as the simulation runs: a forward of (mb, chunk) needs its input activation received
 * (except on the first virtual stage); a backward needs its own forward done and its output gradient received
 * (except on the last virtual stage, whose backward starts the chain); a send needs the compute that produces it;
 * every (microbatch, virtual stage) is forwarded, and backwarded unless forward-only, exactly once; every message
 * sent is received.
 */
public final class ScheduleSimulator {

    /** When a send completes. */
    public enum Delivery { BUFFERED, RENDEZVOUS }

    /**
     * How messages are matched: one FIFO stream per ordered rank pair ({@code PER_PEER}, NCCL and the in-JVM
     * communicator) or one per rank pair and tensor kind ({@code PER_PEER_AND_KIND}, a tagged transport).
     */
    public enum Channels { PER_PEER, PER_PEER_AND_KIND }

    public record Options(Delivery delivery, Channels channels, boolean forwardOnly) {
        /** Buffered sends, untagged FIFO per rank pair, training (forward and backward). */
        public static final Options DEFAULT = new Options(Delivery.BUFFERED, Channels.PER_PEER, false);

        public Options {
            if (delivery == null || channels == null) {
                throw new IllegalArgumentException("delivery and channels must not be null");
            }
        }

        public Options withDelivery(Delivery d) {
            return new Options(d, channels, forwardOnly);
        }

        public Options withChannels(Channels c) {
            return new Options(delivery, c, forwardOnly);
        }

        public Options withForwardOnly(boolean f) {
            return new Options(delivery, channels, f);
        }
    }

    /** No rank can make progress; names every blocked rank and what it waits on. */
    public static final class DeadlockException extends IllegalStateException {
        private static final long serialVersionUID = 1L;
        private final List<Integer> blockedRanks;

        DeadlockException(String message, List<Integer> blockedRanks) {
            super(message);
            this.blockedRanks = List.copyOf(blockedRanks);
        }

        public List<Integer> blockedRanks() {
            return blockedRanks;
        }
    }

    /** A dataflow or matching error: the schedule is wrong even though it may not deadlock. */
    public static final class ViolationException extends IllegalStateException {
        private static final long serialVersionUID = 1L;

        ViolationException(String message) {
            super(message);
        }
    }

    private ScheduleSimulator() {
    }

    /** Training step with {@link Options#DEFAULT}. */
    public static void run(int pp, int microbatches, int chunks, List<List<Action>> schedulesPerRank) {
        run(pp, microbatches, chunks, schedulesPerRank, Options.DEFAULT);
    }

    public static void run(int pp, int microbatches, int chunks, List<List<Action>> schedulesPerRank,
            Options options) {
        if (pp < 1 || microbatches < 1 || chunks < 1) {
            throw new IllegalArgumentException("PP, M and V must be >= 1 (PP=" + pp + ", M=" + microbatches + ", V="
                    + chunks + ")");
        }
        if (schedulesPerRank == null || schedulesPerRank.size() != pp) {
            throw new IllegalArgumentException("need one action list per rank: PP=" + pp + ", got "
                    + (schedulesPerRank == null ? "null" : schedulesPerRank.size()));
        }
        new Sim(pp, microbatches, chunks, schedulesPerRank, options).run();
    }

    private record ChannelKey(int src, int dst, Boolean activation) {
        @Override
        public String toString() {
            return "rank" + src + "->rank" + dst + (activation == null ? "" : activation ? "[act]" : "[grad]");
        }
    }

    private record Posted(int rank, int actionIndex, P2pOp op) {
    }

    private static final class ChannelState {
        final List<Posted> sends = new ArrayList<>();
        final List<Posted> recvs = new ArrayList<>();
    }

    private static final class RankState {
        final List<Action> program;
        int pc;
        boolean posted;
        int[] seq = new int[0];
        final boolean[][] forwarded;
        final boolean[][] backwarded;
        final boolean[][] actIn;
        final boolean[][] gradIn;
        final boolean[][] actOut;
        final boolean[][] gradOut;

        RankState(List<Action> program, int m, int v) {
            this.program = program;
            forwarded = new boolean[m][v];
            backwarded = new boolean[m][v];
            actIn = new boolean[m][v];
            gradIn = new boolean[m][v];
            actOut = new boolean[m][v];
            gradOut = new boolean[m][v];
        }

        boolean done() {
            return pc >= program.size();
        }
    }

    private static final class Sim {
        final int pp;
        final int m;
        final int v;
        final Options options;
        final RankState[] ranks;
        final Map<ChannelKey, ChannelState> channels = new HashMap<>();

        Sim(int pp, int m, int v, List<List<Action>> programs, Options options) {
            this.pp = pp;
            this.m = m;
            this.v = v;
            this.options = options;
            this.ranks = new RankState[pp];
            for (int r = 0; r < pp; r++) {
                List<Action> program = programs.get(r);
                if (program == null) {
                    throw new IllegalArgumentException("action list of rank " + r + " is null");
                }
                ranks[r] = new RankState(List.copyOf(program), m, v);
                for (int i = 0; i < program.size(); i++) {
                    validateStatic(r, i, program.get(i));
                }
            }
        }

        void run() {
            boolean progress = true;
            while (progress) {
                progress = false;
                for (int r = 0; r < pp; r++) {
                    RankState s = ranks[r];
                    while (!s.done()) {
                        Action a = s.program.get(s.pc);
                        if (a.isCompute()) {
                            execute(r, a.step());
                            s.pc++;
                            progress = true;
                            continue;
                        }
                        if (!s.posted) {
                            post(r, a);
                            progress = true;
                        }
                        if (!complete(r, a)) {
                            break;
                        }
                        s.pc++;
                        s.posted = false;
                    }
                }
            }
            List<Integer> blocked = new ArrayList<>();
            for (int r = 0; r < pp; r++) {
                if (!ranks[r].done()) {
                    blocked.add(r);
                }
            }
            if (!blocked.isEmpty()) {
                throw new DeadlockException(deadlockMessage(blocked), blocked);
            }
            finalChecks();
        }

        // ---- static validation -------------------------------------------------------------------------------

        void validateStatic(int r, int index, Action a) {
            String where = "rank " + r + " action #" + index + " " + a;
            if (a.isCompute()) {
                PipelineStep s = a.step();
                checkRange(where, s.microbatch(), s.chunk());
                if (options.forwardOnly() && !s.isForward()) {
                    throw new ViolationException(where + ": backward in a forward-only schedule");
                }
                return;
            }
            for (P2pOp op : a.ops()) {
                checkRange(where, op.microbatch(), op.chunk());
                int c = op.chunk();
                boolean first = VirtualStages.isFirst(r, c);
                boolean last = VirtualStages.isLast(pp, v, r, c);
                boolean towardNext = op.kind() == P2pOp.Kind.SEND_FORWARD || op.kind() == P2pOp.Kind.RECV_BACKWARD;
                if (towardNext && last) {
                    throw new ViolationException(where + ": the last virtual stage (rank " + r + ", chunk " + c
                            + ") has no next stage for " + op.kind());
                }
                if (!towardNext && first) {
                    throw new ViolationException(where + ": the first virtual stage has no previous stage for "
                            + op.kind());
                }
                int peerRank = towardNext ? VirtualStages.nextRank(pp, r) : VirtualStages.prevRank(pp, r);
                int peerChunk = towardNext ? VirtualStages.nextChunk(pp, r, c) : VirtualStages.prevChunk(pp, r, c);
                if (op.peerRank() != peerRank || op.peerChunk() != peerChunk) {
                    throw new ViolationException(where + ": " + op.kind() + " of chunk " + c + " must address rank "
                            + peerRank + " chunk " + peerChunk + ", not rank " + op.peerRank() + " chunk "
                            + op.peerChunk());
                }
                if (options.forwardOnly() && !op.kind().isActivation()) {
                    throw new ViolationException(where + ": gradient transfer in a forward-only schedule");
                }
            }
        }

        void checkRange(String where, int mb, int chunk) {
            if (mb >= m) {
                throw new ViolationException(where + ": microbatch " + mb + " out of range [0, " + m + ")");
            }
            if (chunk >= v) {
                throw new ViolationException(where + ": chunk " + chunk + " out of range [0, " + v + ")");
            }
        }

        // ---- execution -----------------------------------------------------------------------------------------

        void execute(int r, PipelineStep step) {
            RankState s = ranks[r];
            int mb = step.microbatch();
            int c = step.chunk();
            String where = "rank " + r + " action #" + s.pc + " " + step + " (virtual stage "
                    + VirtualStages.virtualStage(pp, r, c) + ")";
            if (step.isForward()) {
                if (s.forwarded[mb][c]) {
                    throw new ViolationException(where + ": forwarded twice");
                }
                if (!VirtualStages.isFirst(r, c) && !s.actIn[mb][c]) {
                    throw new ViolationException(where + ": forward before its input activation was received");
                }
                s.forwarded[mb][c] = true;
            } else {
                if (s.backwarded[mb][c]) {
                    throw new ViolationException(where + ": backwarded twice");
                }
                if (!s.forwarded[mb][c]) {
                    throw new ViolationException(where + ": backward before its forward");
                }
                if (!VirtualStages.isLast(pp, v, r, c) && !s.gradIn[mb][c]) {
                    throw new ViolationException(where + ": backward before its output gradient was received");
                }
                s.backwarded[mb][c] = true;
            }
        }

        ChannelKey key(int r, P2pOp op) {
            int src = op.kind().isSend() ? r : op.peerRank();
            int dst = op.kind().isSend() ? op.peerRank() : r;
            Boolean kind = options.channels() == Channels.PER_PEER ? null : op.kind().isActivation();
            return new ChannelKey(src, dst, kind);
        }

        void post(int r, Action a) {
            RankState s = ranks[r];
            String where = "rank " + r + " action #" + s.pc + " " + a;
            s.seq = new int[a.ops().size()];
            for (int i = 0; i < a.ops().size(); i++) {
                P2pOp op = a.ops().get(i);
                int mb = op.microbatch();
                int c = op.chunk();
                switch (op.kind()) {
                    case SEND_FORWARD -> {
                        if (!s.forwarded[mb][c]) {
                            throw new ViolationException(where + ": sends the activation of (mb=" + mb + ",c=" + c
                                    + ") before computing its forward");
                        }
                        if (s.actOut[mb][c]) {
                            throw new ViolationException(where + ": sends the activation of (mb=" + mb + ",c=" + c
                                    + ") twice");
                        }
                        s.actOut[mb][c] = true;
                    }
                    case SEND_BACKWARD -> {
                        if (!s.backwarded[mb][c]) {
                            throw new ViolationException(where + ": sends the gradient of (mb=" + mb + ",c=" + c
                                    + ") before computing its backward");
                        }
                        if (s.gradOut[mb][c]) {
                            throw new ViolationException(where + ": sends the gradient of (mb=" + mb + ",c=" + c
                                    + ") twice");
                        }
                        s.gradOut[mb][c] = true;
                    }
                    default -> {
                    }
                }
                ChannelKey k = key(r, op);
                ChannelState ch = channels.computeIfAbsent(k, x -> new ChannelState());
                List<Posted> mine = op.kind().isSend() ? ch.sends : ch.recvs;
                List<Posted> theirs = op.kind().isSend() ? ch.recvs : ch.sends;
                s.seq[i] = mine.size();
                Posted p = new Posted(r, s.pc, op);
                mine.add(p);
                if (theirs.size() > s.seq[i]) {
                    Posted other = theirs.get(s.seq[i]);
                    checkMatch(k, s.seq[i], op.kind().isSend() ? p : other, op.kind().isSend() ? other : p);
                }
            }
            s.posted = true;
        }

        void checkMatch(ChannelKey k, int seq, Posted send, Posted recv) {
            P2pOp so = send.op();
            P2pOp ro = recv.op();
            boolean ok = so.kind().counterpart() == ro.kind()
                    && so.microbatch() == ro.microbatch()
                    && so.peerRank() == recv.rank() && so.peerChunk() == ro.chunk()
                    && ro.peerRank() == send.rank() && ro.peerChunk() == so.chunk();
            if (!ok) {
                throw new ViolationException("message mismatch on channel " + k + " message #" + seq + ": rank "
                        + send.rank() + " action #" + send.actionIndex() + " sends " + so + " but rank " + recv.rank()
                        + " action #" + recv.actionIndex() + " expects " + ro);
            }
        }

        boolean opComplete(int r, P2pOp op, int seq) {
            ChannelState ch = channels.get(key(r, op));
            if (op.kind().isSend()) {
                return options.delivery() == Delivery.BUFFERED || ch.recvs.size() > seq;
            }
            return ch.sends.size() > seq;
        }

        boolean complete(int r, Action a) {
            RankState s = ranks[r];
            for (int i = 0; i < a.ops().size(); i++) {
                if (!opComplete(r, a.ops().get(i), s.seq[i])) {
                    return false;
                }
            }
            for (P2pOp op : a.ops()) {
                int mb = op.microbatch();
                int c = op.chunk();
                if (op.kind() == P2pOp.Kind.RECV_FORWARD) {
                    if (s.actIn[mb][c]) {
                        throw new ViolationException("rank " + r + " action #" + s.pc + " " + a
                                + ": receives the input activation of (mb=" + mb + ",c=" + c + ") twice");
                    }
                    s.actIn[mb][c] = true;
                } else if (op.kind() == P2pOp.Kind.RECV_BACKWARD) {
                    if (s.gradIn[mb][c]) {
                        throw new ViolationException("rank " + r + " action #" + s.pc + " " + a
                                + ": receives the output gradient of (mb=" + mb + ",c=" + c + ") twice");
                    }
                    s.gradIn[mb][c] = true;
                }
            }
            return true;
        }

        // ---- reporting -----------------------------------------------------------------------------------------

        String deadlockMessage(List<Integer> blocked) {
            StringBuilder sb = new StringBuilder("pipeline schedule deadlocks (PP=" + pp + ", M=" + m + ", V=" + v
                    + ", " + options.delivery() + ", " + options.channels() + "): ranks " + blocked + " are blocked");
            for (int r : blocked) {
                RankState s = ranks[r];
                Action a = s.program.get(s.pc);
                sb.append("\n  rank ").append(r).append(" at action #").append(s.pc).append(' ').append(a);
                for (int i = 0; i < a.ops().size(); i++) {
                    P2pOp op = a.ops().get(i);
                    if (opComplete(r, op, s.seq[i])) {
                        continue;
                    }
                    int peer = op.peerRank();
                    RankState ps = ranks[peer];
                    sb.append("\n    waits on ").append(op).append(" (").append(op.kind().counterpart())
                            .append(" by rank ").append(peer).append(", which is ")
                            .append(ps.done() ? "finished" : "at action #" + ps.pc + " " + ps.program.get(ps.pc))
                            .append(')');
                }
            }
            return sb.toString();
        }

        void finalChecks() {
            for (int r = 0; r < pp; r++) {
                RankState s = ranks[r];
                for (int c = 0; c < v; c++) {
                    for (int mb = 0; mb < m; mb++) {
                        String what = "rank " + r + " (mb=" + mb + ",c=" + c + ", virtual stage "
                                + VirtualStages.virtualStage(pp, r, c) + ")";
                        if (!s.forwarded[mb][c]) {
                            throw new ViolationException(what + " is never forwarded");
                        }
                        if (!options.forwardOnly() && !s.backwarded[mb][c]) {
                            throw new ViolationException(what + " is never backwarded");
                        }
                    }
                }
            }
            Map<String, String> unbalanced = new TreeMap<>();
            for (Map.Entry<ChannelKey, ChannelState> e : channels.entrySet()) {
                ChannelState ch = e.getValue();
                if (ch.sends.size() != ch.recvs.size()) {
                    unbalanced.put(e.getKey().toString(), ch.sends.size() + " sent, " + ch.recvs.size() + " received");
                }
            }
            if (!unbalanced.isEmpty()) {
                throw new ViolationException("messages never received: " + unbalanced);
            }
        }
    }
}
