package dev.lattice.spark.train;

import dev.lattice.parallel.nccl.LocalNcclGroupIds;
import dev.lattice.parallel.nccl.NcclGroupIds;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class NcclIdMessageTest {

    private static byte[] id(int seed) {
        byte[] b = new byte[NcclGroupIds.ID_BYTES];
        new Random(seed).nextBytes(b);
        return b;
    }

    private static Map<String, byte[]> ids() {
        Map<String, byte[]> ids = new LinkedHashMap<>();
        for (int i = 0; i < 256; i += 32) {
            ids.put(NcclGroupIds.key("dp", new int[]{i, i + 16}), id(i));
        }
        byte[] everyValue = new byte[NcclGroupIds.ID_BYTES];
        for (int i = 0; i < everyValue.length; i++) {
            everyValue[i] = (byte) (i * 2 - 128);
        }
        ids.put("embedding[0,7]", everyValue);
        ids.put("world[0,1,2,3,4,5,6,7]", new byte[NcclGroupIds.ID_BYTES]);
        return ids;
    }

    @Test
    void roundTripKeepsEveryIdAndTheOrder() {
        Map<String, byte[]> ids = ids();
        String message = NcclIdMessage.encode(ids);
        assertTrue(message.startsWith(NcclIdMessage.HEADER + "\n"), message);
        Map<String, byte[]> back = NcclIdMessage.decode(message);
        assertEquals(new ArrayList<>(ids.keySet()), new ArrayList<>(back.keySet()));
        ids.forEach((k, v) -> assertArrayEquals(v, back.get(k), k));
        // what every rank builds from it: the same bytes for a known group, a clear error for another
        LocalNcclGroupIds local = new LocalNcclGroupIds(back);
        assertArrayEquals(ids.get("embedding[0,7]"), local.idFor("embedding[0,7]"));
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
                () -> local.idFor("tp[0,1]"));
        assertTrue(unknown.getMessage().contains("tp[0,1]"), unknown.getMessage());
    }

    @Test
    void noGroupsIsJustTheHeader() {
        assertEquals(NcclIdMessage.HEADER, NcclIdMessage.encode(Map.of()));
        assertEquals(Map.of(), NcclIdMessage.decode(NcclIdMessage.HEADER));
    }

    @Test
    void encodingRejectsAWrongIdOrKey() {
        IllegalArgumentException shortId = assertThrows(IllegalArgumentException.class,
                () -> NcclIdMessage.encode(Map.of("dp[0,1]", new byte[12])));
        assertTrue(shortId.getMessage().contains("dp[0,1] has 12 bytes, expected 128"), shortId.getMessage());
        IllegalArgumentException key = assertThrows(IllegalArgumentException.class,
                () -> NcclIdMessage.encode(Map.of("dp=0", id(1))));
        assertTrue(key.getMessage().contains("'dp=0' is not an NCCL group key"), key.getMessage());
    }

    @Test
    void malformedMessagesNameWhatIsWrong() {
        String good = Base64.getEncoder().encodeToString(id(3));
        String h = NcclIdMessage.HEADER + "\n";
        List<String[]> cases = List.of(
                new String[]{"", "it is empty"},
                new String[]{"ok lattice-123", "its first line is 'ok lattice-123', expected '" + NcclIdMessage.HEADER},
                new String[]{h + "dp[0,1]=" + good + "\ntp[0,1]", "line 3 'tp[0,1]' has no '='"},
                new String[]{h + "dp 0 1=" + good, "'dp 0 1' is not an NCCL group key"},
                new String[]{h + "dp[0,1]=not*base64!", "the id of group dp[0,1] is not base64"},
                new String[]{h + "dp[0,1]=" + Base64.getEncoder().encodeToString(new byte[100]),
                        "the id of group dp[0,1] has 100 bytes, expected 128"},
                new String[]{h + "dp[0,1]=" + good + "\ndp[0,1]=" + good, "line 3", "group dp[0,1] appears twice"},
                new String[]{h + "dp[0,1]=" + good + "\n", "line 3 '' has no '='"});
        for (String[] c : cases) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> NcclIdMessage.decode(c[0]),
                    c[0]);
            assertTrue(e.getMessage().startsWith("malformed NCCL id message from rank 0: "), e.getMessage());
            for (int i = 1; i < c.length; i++) {
                assertTrue(e.getMessage().contains(c[i]), e.getMessage() + " should say " + c[i]);
            }
        }
    }
}
