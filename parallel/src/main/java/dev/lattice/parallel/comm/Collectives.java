package dev.lattice.parallel.comm;

/** Small collectives built on a {@link Communicator}. */
public final class Collectives {

    private Collectives() {
    }

    /**
     * The sum of a double over the group. Communicators move fp32, so each rank sends its value as a float pair
     * (high part, remainder) and every rank adds the doubles in rank order: identical results on all ranks, to about
     * 48 bits.
     */
    public static double sum(Communicator c, double local) {
        if (c == null || c.size() == 1) {
            return local;
        }
        float hi = (float) local;
        float[] mine = {hi, (float) (local - hi)};
        float[] all = new float[2 * c.size()];
        c.allGather(new HostBuffer(mine), 0, new HostBuffer(all), 0, 2);
        double s = 0;
        for (int r = 0; r < c.size(); r++) {
            s += (double) all[2 * r] + all[2 * r + 1];
        }
        return s;
    }
}
