package dev.lattice.spark.train;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Streams the logging rank's progress lines (iteration, loss, tokens/s, TFLOP/s, checkpoints) to the driver while the
 * barrier stage runs. Spark returns a task's results and accumulator updates only when the task ends, and executor
 * stdout stays in executor logs, so the driver listens on a socket that the logging rank connects to — executors can
 * always reach the driver, which Spark itself requires. Lines are printed on the driver as they arrive.
 */
public final class ProgressRelay implements AutoCloseable {

    private static final int CONNECT_TIMEOUT_MS = 10_000;
    private static final long DRAIN_MS = 5_000;

    private final ServerSocket server;
    private final String advertisedHost;
    private final PrintStream sink;
    private final List<Thread> readers = new CopyOnWriteArrayList<>();
    private final Thread acceptor;

    /**
     * @param advertisedHost the driver host executors connect to ({@code spark.driver.host})
     * @param sink where received lines are printed on the driver
     */
    public ProgressRelay(String advertisedHost, PrintStream sink) throws IOException {
        this.server = new ServerSocket();
        this.server.bind(new InetSocketAddress(0)); // all interfaces: the advertised host may be any of them
        this.advertisedHost = advertisedHost;
        this.sink = sink;
        this.acceptor = new Thread(this::acceptLoop, "lattice-progress-accept");
        this.acceptor.setDaemon(true);
        this.acceptor.start();
    }

    /** {@code host:port} for the ranks. */
    public String address() {
        return advertisedHost + ":" + server.getLocalPort();
    }

    private void acceptLoop() {
        while (!server.isClosed()) {
            try {
                Socket s = server.accept();
                Thread t = new Thread(() -> forward(s), "lattice-progress-" + s.getRemoteSocketAddress());
                t.setDaemon(true);
                readers.add(t);
                t.start();
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    private void forward(Socket s) {
        try (s; BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(),
                StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null; ) {
                synchronized (sink) {
                    sink.println(line);
                    sink.flush();
                }
            }
        } catch (IOException e) {
            // the rank died or the relay closed; the stage's own failure is what the driver reports
        }
    }

    /**
     * Waits (at most a few seconds) until the connections opened so far have ended and their lines are printed, so
     * the driver's own messages after a stage follow the rank's last line.
     */
    public void drain() {
        long deadline = System.currentTimeMillis() + DRAIN_MS;
        for (Thread t : readers) {
            try {
                t.join(Math.max(1, deadline - System.currentTimeMillis()));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            if (!t.isAlive()) {
                readers.remove(t);
            }
        }
    }

    /** Stops accepting and prints what the ranks already sent. */
    @Override
    public void close() throws IOException {
        server.close();
        drain();
    }

    /**
     * A rank's stream to the driver at {@code address} ({@code host:port}); when the driver cannot be reached the
     * lines go to {@code fallback} (the executor log), after a line saying why.
     */
    public static PrintStream connect(String address, PrintStream fallback) {
        int colon = address.lastIndexOf(':');
        try {
            Socket s = new Socket();
            s.connect(new InetSocketAddress(InetAddress.getByName(address.substring(0, colon)),
                    Integer.parseInt(address.substring(colon + 1))), CONNECT_TIMEOUT_MS);
            s.setTcpNoDelay(true);
            return new PrintStream(s.getOutputStream(), true, StandardCharsets.UTF_8);
        } catch (IOException | RuntimeException e) {
            fallback.println(" > progress relay to the driver at " + address + " unreachable (" + e
                    + "); progress stays in this executor's log");
            return fallback;
        }
    }
}
