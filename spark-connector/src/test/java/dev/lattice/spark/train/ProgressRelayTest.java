package dev.lattice.spark.train;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ProgressRelayTest {

    @Test
    void linesReachTheDriverWhileTheRankIsStillRunning() throws Exception {
        ByteArrayOutputStream driver = new ByteArrayOutputStream();
        try (ProgressRelay relay = new ProgressRelay("127.0.0.1", new PrintStream(driver, true,
                StandardCharsets.UTF_8))) {
            PrintStream rank = ProgressRelay.connect(relay.address(), System.out);
            rank.println(" iteration        1/      10 | lm loss: 1.0E+01");
            // the rank has not finished: the line must arrive anyway
            long deadline = System.currentTimeMillis() + 5_000;
            while (!driver.toString(StandardCharsets.UTF_8).contains("iteration        1/")
                    && System.currentTimeMillis() < deadline) {
                Thread.sleep(10);
            }
            assertTrue(driver.toString(StandardCharsets.UTF_8).contains("iteration        1/"),
                    "line not streamed before the rank ended");
            rank.println(" iteration        2/      10 | lm loss: 9.0E+00");
            rank.close();
            relay.drain();
            assertEquals(" iteration        1/      10 | lm loss: 1.0E+01\n"
                    + " iteration        2/      10 | lm loss: 9.0E+00\n", driver.toString(StandardCharsets.UTF_8));
        }
    }

    @Test
    void unreachableDriverFallsBackToTheExecutorLogAndSaysWhy() throws Exception {
        int closedPort;
        try (ServerSocket s = new ServerSocket(0)) {
            closedPort = s.getLocalPort();
        }
        ByteArrayOutputStream executor = new ByteArrayOutputStream();
        PrintStream fallback = new PrintStream(executor, true, StandardCharsets.UTF_8);
        PrintStream got = ProgressRelay.connect("127.0.0.1:" + closedPort, fallback);
        assertSame(fallback, got);
        assertTrue(executor.toString(StandardCharsets.UTF_8).contains("progress relay to the driver at 127.0.0.1:"
                + closedPort + " unreachable"), executor.toString(StandardCharsets.UTF_8));
    }
}
