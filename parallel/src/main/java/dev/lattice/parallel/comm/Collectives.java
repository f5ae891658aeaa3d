package dev.lattice.parallel.comm;

/** Small collectives built on a {@link Communicator}. */
public final class Collectives {

    private Collectives() {
    }

    /**
     * The sum of a double over the group. Communicators move fp32, so each rank sends its value as a float pair
     * (high part, remainder; {@link #pair}) and every rank adds the doubles in rank order ({@link #sumOfPairs}):
     * identical results on all ranks, to about 48 bits.
     */
    public static double sum(Communicator c, double local) {
        if (c == null || c.size() == 1) {
            return local;
        }
        float[] all = new float[2 * c.size()];
        c.allGather(new HostBuffer(pair(local)), 0, new HostBuffer(all), 0, 2);
        return sumOfPairs(all, c.size());
    }

    /**
     * {@code value} as {@link #sum} sends it: {high, remainder}, each rounded to the nearest float. A device that
     * forms the pair itself (and gathers it without a trip through the host) must round the same way.
     */
    public static float[] pair(double value) {
        float hi = (float) value;
        return new float[] {hi, (float) (value - hi)};
    }

    /** The doubles of {@code ranks} gathered pairs, added in rank order as {@link #sum} adds them. */
    public static double sumOfPairs(float[] gathered, int ranks) {
        double s = 0;
        for (int r = 0; r < ranks; r++) {
            s += (double) gathered[2 * r] + gathered[2 * r + 1];
        }
        return s;
    }
}
