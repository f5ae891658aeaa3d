package dev.lattice.spark.testing;

import org.apache.spark.sql.SparkSession;

/** The one local[2] SparkSession all tests of this JVM share (one SparkContext per JVM). */
public final class SparkTestSession {

    private static SparkSession session;

    private SparkTestSession() {
    }

    public static synchronized SparkSession get() {
        if (session == null) {
            session = SparkSession.builder()
                    .master("local[2]")
                    .appName("lattice-tests")
                    .config("spark.ui.enabled", "false")
                    .config("spark.driver.bindAddress", "127.0.0.1")
                    .config("spark.driver.host", "localhost")
                    .config("spark.sql.shuffle.partitions", "4")
                    .config("spark.ui.showConsoleProgress", "false")
                    .getOrCreate();
        }
        return session;
    }
}
