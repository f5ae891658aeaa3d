package dev.lattice.data.tokenizer;

/**
 * DJL picks the CUDA build of its tokenizers library when it sees a GPU and then downloads it; our GPU hosts have no
 * network. Offline mode makes it use the CPU library bundled in the jar (shared/reference/dependencies.md §2).
 */
final class OfflineNativeLibrary {

    private OfflineNativeLibrary() {
    }

    static void forceCpuOffline() {
        if (System.getProperty("ai.djl.offline") == null) {
            System.setProperty("ai.djl.offline", "true");
        }
    }
}
