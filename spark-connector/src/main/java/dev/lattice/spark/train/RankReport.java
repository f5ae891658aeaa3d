package dev.lattice.spark.train;

import java.util.Arrays;
import java.util.List;

/**
 * What each rank tells the others at the rendezvous ({@code BarrierTaskContext.allGather}): its host, device, the
 * Lattice build it runs, its training arguments, and why it cannot train where it was placed ({@code problem}, empty
 * when it can: e.g. {@code --devices cuda} on an executor without CUDA). Ranks that disagree on the build or the
 * arguments would train different models, so the rendezvous compares every report with rank 0's and names the first
 * difference; a rank's problem fails every rank, naming that rank and its host.
 */
record RankReport(int rank, String host, String device, String build, List<String> args, String problem) {

    private static final String FIELD = "\u001f";
    private static final String ARG = "\u001e";

    RankReport {
        problem = problem == null ? "" : problem.replace(FIELD, " ").replace(ARG, " ");
    }

    /** A rank that can train where it is. */
    RankReport(int rank, String host, String device, String build, List<String> args) {
        this(rank, host, device, build, args, "");
    }

    String encode() {
        return rank + FIELD + host + FIELD + device + FIELD + build + FIELD + problem + FIELD
                + String.join(ARG, args);
    }

    static RankReport decode(String s) {
        String[] f = s.split(FIELD, -1);
        if (f.length != 6) {
            throw new IllegalStateException("malformed rendezvous report from a peer (a different Lattice build?): "
                    + s.replace(FIELD, "|"));
        }
        List<String> args = f[5].isEmpty() ? List.of() : Arrays.asList(f[5].split(ARG, -1));
        return new RankReport(Integer.parseInt(f[0]), f[1], f[2], f[3], args, f[4]);
    }

    /**
     * Fails when any rank reported a problem, naming the first such rank, its host and the problem: every rank
     * throws the same message, so whichever failure Spark reports first explains the stage.
     */
    static void checkProblems(RankReport[] reports) {
        for (RankReport r : reports) {
            if (!r.problem.isEmpty()) {
                throw new IllegalStateException("rank " + r.rank + " on " + r.host + " cannot train: " + r.problem);
            }
        }
    }

    /** {@code rank|host|device}, as {@link DeviceAssignment#checkDistinct} reads it. */
    String placement() {
        return rank + "|" + host + "|" + device;
    }

    /** The build of this JVM: the jar's Implementation-Version, or "dev" when run from classes. */
    static String currentBuild() {
        String v = RankReport.class.getPackage().getImplementationVersion();
        return v == null ? "dev" : v;
    }

    /** Null when {@code other} agrees with this report on build and arguments, else the first difference, named. */
    String differenceFrom(RankReport other) {
        String who = "rank " + other.rank + " on " + other.host + " differs from rank " + rank + " on " + host + ": ";
        if (!build.equals(other.build)) {
            return who + "Lattice build " + other.build + " vs " + build;
        }
        int n = Math.max(args.size(), other.args.size());
        for (int i = 0; i < n; i++) {
            String mine = i < args.size() ? args.get(i) : null;
            String theirs = i < other.args.size() ? other.args.get(i) : null;
            if (!java.util.Objects.equals(mine, theirs)) {
                String flag = flagAt(args, i);
                return who + (flag == null ? "argument " + (i + 1) : flag) + " "
                        + (theirs == null ? "(missing)" : theirs) + " vs " + (mine == null ? "(missing)" : mine);
            }
        }
        return null;
    }

    /** The option that argument {@code i} belongs to: the nearest {@code --flag} at or before it. */
    private static String flagAt(List<String> args, int i) {
        for (int k = Math.min(i, args.size() - 1); k >= 0; k--) {
            if (args.get(k).startsWith("--")) {
                return k == i ? null : args.get(k);
            }
        }
        return null;
    }
}
