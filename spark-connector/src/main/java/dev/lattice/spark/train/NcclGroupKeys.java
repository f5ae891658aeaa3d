package dev.lattice.spark.train;

import dev.lattice.parallel.nccl.NcclGroupIds;
import dev.lattice.parallel.topology.Topology;
import dev.lattice.trainer.cli.TrainCommand;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * The NCCL groups a training run creates, as {@link NcclGroupIds#key} keys: rank 0 generates one unique id per key
 * before the ranks start, so the list must be exactly what {@code TrainCommand.RankSetup.run} asks its world for —
 * a missing key fails that rank ("no NCCL id for group …"), and an extra one leaves an NCCL bootstrap root waiting
 * for members that never come. Mirrors, per rank: {@code tp} when TP > 1; {@code pp} when PP > 1, plus
 * {@code embedding} (first and last stage) on those stages when the embeddings are tied; {@code dp} unless DP = 1
 * without ZeRO; and {@code world} over every rank (checkpoint barriers).
 */
public final class NcclGroupKeys {

    private NcclGroupKeys() {
    }

    /** The keys of {@code setup}'s run (its topology, tied embeddings and ZeRO stage). */
    public static List<String> of(TrainCommand.RankSetup setup) {
        return of(setup.topology(), setup.config().tiedEmbeddings(), setup.zero());
    }

    /**
     * @param tiedEmbeddings whether the input embedding and the output layer share weights (GPT-2 unless
     *                       {@code --untie-embeddings-and-output-weights}; never Llama)
     * @param zeroStage the run's ZeRO stage (a DP group of one rank exists when it is above 0)
     * @return the distinct keys in the order of the first rank that asks for each
     */
    public static List<String> of(Topology topology, boolean tiedEmbeddings, int zeroStage) {
        Set<String> keys = new LinkedHashSet<>();
        int[] all = new int[topology.world()];
        for (int r = 0; r < all.length; r++) {
            all[r] = r;
        }
        for (int rank = 0; rank < topology.world(); rank++) {
            if (topology.tp() > 1) {
                keys.add(NcclGroupIds.key("tp", topology.groupOf(rank, Topology.Axis.TP)));
            }
            if (topology.pp() > 1) {
                keys.add(NcclGroupIds.key("pp", topology.groupOf(rank, Topology.Axis.PP)));
                int stage = topology.ppRank(rank);
                if (tiedEmbeddings && (stage == 0 || stage == topology.pp() - 1)) {
                    keys.add(NcclGroupIds.key("embedding", topology.embeddingGroup(rank)));
                }
            }
            if (!(topology.dp() == 1 && zeroStage == 0)) {
                keys.add(NcclGroupIds.key("dp", topology.groupOf(rank, Topology.Axis.DP)));
            }
            keys.add(NcclGroupIds.key("world", all));
        }
        return new ArrayList<>(keys);
    }
}
