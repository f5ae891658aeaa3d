package dev.lattice.parallel.nccl;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Watches the operations whose completion no host thread waits for ({@link NcclCommunicator}'s deferred
 * completion): every 100 ms it reaps those done and aborts a communicator whose oldest one outlived the timeout, so a
 * dead peer fails the job even while its rank's thread sits in a device synchronisation instead of a collective
 * (the abort ends the NCCL kernel that stream waits for; the next operation then throws, naming what hung). It
 * bounds a blocking communicator's calls the same way: a rank's thread held inside NCCL past the timeout (a peer that
 * never connects) is released by aborting the communicator.
 */
final class Watchdog {

    private static final long PERIOD_MS = 100;
    private static final Set<NcclCommunicator> WATCHED = ConcurrentHashMap.newKeySet();
    private static volatile Thread thread;

    private Watchdog() {
    }

    /** Watches {@code c} until it has no deferred operation left. */
    static void watch(NcclCommunicator c) {
        WATCHED.add(c);
        if (thread == null) {
            start();
        }
    }

    private static synchronized void start() {
        if (thread != null) {
            return;
        }
        Thread t = new Thread(Watchdog::loop, "lattice-nccl-watchdog");
        t.setDaemon(true);
        thread = t;
        t.start();
    }

    private static void loop() {
        while (true) {
            try {
                Thread.sleep(PERIOD_MS);
            } catch (InterruptedException e) {
                return;
            }
            for (NcclCommunicator c : WATCHED) {
                try {
                    if (!c.watchOnce()) {
                        WATCHED.remove(c);
                        if (c.needsWatching()) {
                            WATCHED.add(c); // watch() came between the visit and the removal
                        }
                    }
                } catch (RuntimeException e) {
                    WATCHED.remove(c); // closed or failed: its owner sees the failure on its next call
                }
            }
        }
    }
}
