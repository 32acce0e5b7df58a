// Command verify checks the audit ledger's published log with Go's own transparency-log
// packages, golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog, and nothing of this
// project: it reads the C2SP tlog-checkpoint signed note and the C2SP tlog-tiles an authority
// serves under /v1/ledger/ (docs/spec/ledger.md §7), and the inclusion and consistency proofs of
// /v1/proof/ (§7.6).
//
// Usage:
//
//	verify <base URL of the log, ending in /v1/ledger/> <verifier key> [<earlier checkpoint file>]
//
// It prints a JSON summary on stdout and exits 0, or prints "verify: <what failed>" on stderr
// and exits 1. It builds with the standard library and x/mod only, in GOPATH mode:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o verify verify.go
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// tileHeight is the C2SP tlog-tiles height: 2^8 hashes per full tile.
const tileHeight = 8

// maxReplay bounds the full replay (every entry bundle and every tile recomputed): enough for
// a test log, not meant for a production one.
const maxReplay = 1 << 16

const maxBody = 64 << 20

var client = &http.Client{Timeout: 30 * time.Second}

type checkpoint struct {
	text       []byte
	origin     string
	tree       tlog.Tree
	extensions []string
}

type summary struct {
	Origin          string         `json:"origin"`
	Size            int64          `json:"size"`
	Root            string         `json:"root"`
	Extensions      []string       `json:"extensions"`
	Signers         []string       `json:"signers"`
	ParseTree       parseTreeCheck `json:"parseTree"`
	RootMatches     bool           `json:"rootMatches"`
	TilesFetched    []string       `json:"tilesFetched"`
	Replay          *replay        `json:"replay"`
	RecordsProven   []int64        `json:"recordsProven"`
	InclusionProofs []int64        `json:"inclusionProofs"`
	Consistency     *consistency   `json:"consistency"`
}

type parseTreeCheck struct {
	// The error tlog.ParseTree gives for the checkpoint as published.
	Original string `json:"original"`
	// Whether ParseTree reads the same size and root once the origin line is its own.
	SameTree bool `json:"sameTree"`
}

type replay struct {
	Records int64 `json:"records"`
	Tiles   int   `json:"tiles"`
	// The events of all the records: each record is one producer batch, {"events":[...],...}.
	Events int64 `json:"events"`
	// The longest record in bytes: at most 65,535, the most a uint16 length prefix can say.
	LargestRecord int `json:"largestRecord"`
}

type consistency struct {
	OldSize     int64 `json:"oldSize"`
	NewSize     int64 `json:"newSize"`
	ProofHashes int   `json:"proofHashes"`
	Served      bool  `json:"served"`
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "verify: "+format+"\n", args...)
	os.Exit(1)
}

func fetch(u string) ([]byte, error) {
	resp, err := client.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %v", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", u, resp.Status, bytes.TrimSpace(body))
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("GET %s: more than %d bytes", u, maxBody)
	}
	return body, nil
}

// openCheckpoint verifies the note's signature by the log's key with note.Open and reads the
// tlog-checkpoint body.
//
// tlog.ParseTree cannot do the reading: in x/mod v0.7.0 it accepts only the go.sum checksum
// database's own origin line, "go.sum database tree", and rejects every other origin (the
// extension lines after the root it would ignore: "extra text lines after the encoding are
// ignored"). So the first three lines are parsed here, as C2SP tlog-checkpoint defines them, and
// checkParseTree shows ParseTree reads the same size and root once given its origin line.
func openCheckpoint(text []byte, verifiers note.Verifiers, origin string) (*checkpoint, []string, error) {
	n, err := note.Open(text, verifiers)
	if err != nil {
		return nil, nil, fmt.Errorf("note.Open: %v", err)
	}
	var signers []string
	for _, sig := range n.Sigs {
		signers = append(signers, fmt.Sprintf("%s+%08x", sig.Name, sig.Hash))
	}
	lines := strings.Split(n.Text, "\n")
	// n.Text ends with a newline: the last element is empty.
	if len(lines) < 4 || lines[len(lines)-1] != "" {
		return nil, nil, fmt.Errorf("checkpoint: fewer than three lines")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || lines[1] != strconv.FormatInt(size, 10) {
		return nil, nil, fmt.Errorf("checkpoint: bad tree size %q", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return nil, nil, fmt.Errorf("checkpoint: bad root hash %q", lines[2])
	}
	if lines[0] != origin {
		return nil, nil, fmt.Errorf("checkpoint: origin %q, want the key's name %q", lines[0], origin)
	}
	c := &checkpoint{text: []byte(n.Text), origin: lines[0], extensions: lines[3 : len(lines)-1]}
	c.tree.N = size
	copy(c.tree.Hash[:], root)
	return c, signers, nil
}

func checkParseTree(c *checkpoint) parseTreeCheck {
	var check parseTreeCheck
	if _, err := tlog.ParseTree(c.text); err != nil {
		check.Original = err.Error()
	} else {
		check.Original = "accepted"
	}
	goSum := "go.sum database tree" + string(c.text[len(c.origin):])
	tree, err := tlog.ParseTree([]byte(goSum))
	check.SameTree = err == nil && tree == c.tree
	return check
}

// c2spTilePath is the C2SP tlog-tiles path of a tile: "tile/<L>/<N>[.p/<W>]", or
// "tile/entries/<N>[.p/<W>]" for the entry bundle (L = -1). Go's Tile.Path() is the sumdb one,
// "tile/<H>/<L>/<N>" with "data" for L = -1: C2SP has no height segment (its height is always 8)
// and calls bundles "entries". N is written in groups of three digits, all but the last with an
// "x" prefix, the same in both.
func c2spTilePath(t tlog.Tile) string {
	if t.H != tileHeight {
		panic(fmt.Sprintf("tile height %d", t.H))
	}
	n := t.N
	nStr := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		nStr = fmt.Sprintf("x%03d/%s", n%1000, nStr)
	}
	level := strconv.Itoa(t.L)
	if t.L == -1 {
		level = "entries"
	}
	path := "tile/" + level + "/" + nStr
	if t.W != 1<<tileHeight {
		path += ".p/" + strconv.Itoa(t.W)
	}
	return path
}

// tileFetcher is a tlog.TileReader over the authority's C2SP tiles.
type tileFetcher struct {
	base    *url.URL
	fetched map[string]bool
}

func (f *tileFetcher) Height() int { return tileHeight }

func (f *tileFetcher) get(t tlog.Tile) ([]byte, error) {
	path := c2spTilePath(t)
	f.fetched[path] = true
	return fetch(f.base.ResolveReference(&url.URL{Path: path}).String())
}

func (f *tileFetcher) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	data := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := f.get(t)
		if err != nil {
			return nil, err
		}
		data[i] = b
	}
	return data, nil
}

func (f *tileFetcher) SaveTiles([]tlog.Tile, [][]byte) {}

// entries fetches the entry bundle holding record index i and returns its records.
func (f *tileFetcher) entries(i, size int64) ([][]byte, error) {
	t := tlog.Tile{H: tileHeight, L: -1, N: i >> tileHeight, W: 1 << tileHeight}
	if rest := size - t.N<<tileHeight; rest < int64(t.W) {
		t.W = int(rest)
	}
	bundle, err := f.get(t)
	if err != nil {
		return nil, err
	}
	var records [][]byte
	for len(bundle) > 0 {
		if len(bundle) < 2 {
			return nil, fmt.Errorf("%s: truncated length", c2spTilePath(t))
		}
		n := int(binary.BigEndian.Uint16(bundle))
		if len(bundle) < 2+n {
			return nil, fmt.Errorf("%s: truncated record", c2spTilePath(t))
		}
		records = append(records, bundle[2:2+n])
		bundle = bundle[2+n:]
	}
	if len(records) != t.W {
		return nil, fmt.Errorf("%s: %d records, want %d", c2spTilePath(t), len(records), t.W)
	}
	return records, nil
}

// batchEvents is the number of events of a record: a JSON object whose "events" member is a
// non-empty array (docs/spec/ledger.md §5). Nothing else of the record is read here.
func batchEvents(record []byte) (int, error) {
	var batch struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(record, &batch); err != nil {
		return 0, err
	}
	if len(batch.Events) == 0 {
		return 0, fmt.Errorf("no events")
	}
	return len(batch.Events), nil
}

// fullReplay rebuilds the log from its entry bundles with tlog.StoredHashes, as a Go sumdb
// server stores it, and requires every C2SP tile of the tree to be byte for byte the tile
// tlog.ReadTileData makes of those hashes. It counts the events of the records (batches).
func fullReplay(f *tileFetcher, tree tlog.Tree) (*replay, error) {
	var stored []tlog.Hash
	var events int64
	largest := 0
	memory := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			if x < 0 || x >= int64(len(stored)) {
				return nil, fmt.Errorf("stored hash %d not computed", x)
			}
			out[i] = stored[x]
		}
		return out, nil
	})
	for n := int64(0); n < tree.N; n += 1 << tileHeight {
		records, err := f.entries(n, tree.N)
		if err != nil {
			return nil, err
		}
		for k, record := range records {
			count, err := batchEvents(record)
			if err != nil {
				return nil, fmt.Errorf("record %d (seq %d) is not a batch of events: %v", n+int64(k), n+int64(k)+1, err)
			}
			events += int64(count)
			if len(record) > largest {
				largest = len(record)
			}
			hashes, err := tlog.StoredHashes(n+int64(k), record, memory)
			if err != nil {
				return nil, err
			}
			stored = append(stored, hashes...)
		}
	}
	root, err := tlog.TreeHash(tree.N, memory)
	if err != nil {
		return nil, err
	}
	if root != tree.Hash {
		return nil, fmt.Errorf("the root of the records in the entry bundles is %v, the checkpoint says %v", root, tree.Hash)
	}
	tiles := tlog.NewTiles(tileHeight, 0, tree.N)
	for _, t := range tiles {
		want, err := tlog.ReadTileData(t, memory)
		if err != nil {
			return nil, err
		}
		got, err := f.get(t)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(got, want) {
			return nil, fmt.Errorf("%s differs from the tile tlog computes from the records", c2spTilePath(t))
		}
	}
	return &replay{Records: tree.N, Tiles: len(tiles), Events: events, LargestRecord: largest}, nil
}

func decodeHashes(encoded []string) ([]tlog.Hash, error) {
	hashes := make([]tlog.Hash, len(encoded))
	for i, s := range encoded {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != tlog.HashSize {
			return nil, fmt.Errorf("bad proof hash %q", s)
		}
		copy(hashes[i][:], b)
	}
	return hashes, nil
}

func main() {
	if len(os.Args) != 3 && len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: verify <log URL ending in /v1/ledger/> <verifier key> [<earlier checkpoint file>]")
		os.Exit(2)
	}
	base, err := url.Parse(os.Args[1])
	if err != nil || !strings.HasSuffix(base.Path, "/") {
		fail("the log URL must end with a slash: %q", os.Args[1])
	}
	verifier, err := note.NewVerifier(os.Args[2])
	if err != nil {
		fail("note.NewVerifier: %v", err)
	}
	verifiers := note.VerifierList(verifier)
	resolve := func(ref string) string {
		r, err := url.Parse(ref)
		if err != nil {
			panic(err)
		}
		return base.ResolveReference(r).String()
	}

	text, err := fetch(resolve("checkpoint"))
	if err != nil {
		fail("%v", err)
	}
	c, signers, err := openCheckpoint(text, verifiers, verifier.Name())
	if err != nil {
		fail("%v", err)
	}
	if c.tree.N < 1 {
		fail("checkpoint: empty tree")
	}
	out := summary{
		Origin:        c.origin,
		Size:          c.tree.N,
		Root:          c.tree.Hash.String(),
		Extensions:    c.extensions,
		Signers:       signers,
		ParseTree:     checkParseTree(c),
		TilesFetched:  []string{},
		RecordsProven: []int64{},
	}

	// The root from the tiles, read as a tlog client reads them. TileHashReader is meant to
	// authenticate every tile against the checkpoint's root before it returns a hash of it, but
	// in x/mod (v0.7.0, and later versions have the same loop) it checks the tiles fetched for
	// the requested hashes against their parents only from position len(stx) of its tile list,
	// len(stx) being the number of subtree hashes of the root, not the number of tiles holding
	// them: when two of those subtrees share a tile (size 902: five subtrees, two tiles), the
	// first tiles fetched for a proof are never checked. So no hash it returns is trusted here on
	// its own: TreeHash reads only the root's tiles (those it does check), and every proof made
	// from it goes through tlog.CheckRecord or tlog.CheckTree against the checkpoint's root.
	tiles := &tileFetcher{base: base, fetched: map[string]bool{}}
	reader := tlog.TileHashReader(c.tree, tiles)
	root, err := tlog.TreeHash(c.tree.N, reader)
	if err != nil {
		fail("tlog.TreeHash over the tiles: %v", err)
	}
	if root != c.tree.Hash {
		fail("tlog.TreeHash over the tiles is %v, the checkpoint says %v", root, c.tree.Hash)
	}
	out.RootMatches = true

	// A few records, from their entry bundles, proven in the tree from the tiles.
	samples := map[int64]bool{}
	for _, i := range []int64{0, 1, 255, 256, 257, 511, 512, c.tree.N / 2, c.tree.N - 2, c.tree.N - 1} {
		if i >= 0 && i < c.tree.N {
			samples[i] = true
		}
	}
	var indexes []int64
	for i := range samples {
		indexes = append(indexes, i)
	}
	sort.Slice(indexes, func(a, b int) bool { return indexes[a] < indexes[b] })
	records := map[int64][]byte{}
	for _, i := range indexes {
		bundle, err := tiles.entries(i, c.tree.N)
		if err != nil {
			fail("%v", err)
		}
		record := bundle[i&(1<<tileHeight-1)]
		records[i] = record
		proof, err := tlog.ProveRecord(c.tree.N, i, reader)
		if err != nil {
			fail("tlog.ProveRecord(%d, %d): %v", c.tree.N, i, err)
		}
		if err := tlog.CheckRecord(proof, c.tree.N, c.tree.Hash, i, tlog.RecordHash(record)); err != nil {
			fail("record %d (seq %d) of its entry bundle: tlog.CheckRecord: %v", i, i+1, err)
		}
		out.RecordsProven = append(out.RecordsProven, i)
	}
	for path := range tiles.fetched {
		out.TilesFetched = append(out.TilesFetched, path)
	}
	sort.Strings(out.TilesFetched)

	// Every record and every tile, recomputed by tlog.
	if c.tree.N <= maxReplay {
		if out.Replay, err = fullReplay(tiles, c.tree); err != nil {
			fail("replay: %v", err)
		}
	}

	// The authority's inclusion proofs, against the checkpoint they come with.
	out.InclusionProofs = []int64{}
	for _, i := range indexes {
		seq := i + 1
		body, err := fetch(resolve("../proof/inclusion?seq=" + strconv.FormatInt(seq, 10)))
		if err != nil {
			fail("%v", err)
		}
		var served struct {
			Checkpoint string   `json:"checkpoint"`
			Record     string   `json:"record"`
			Proof      []string `json:"proof"`
		}
		if err := json.Unmarshal(body, &served); err != nil {
			fail("inclusion proof of seq %d: %v", seq, err)
		}
		at, _, err := openCheckpoint([]byte(served.Checkpoint), verifiers, verifier.Name())
		if err != nil {
			fail("inclusion proof of seq %d: %v", seq, err)
		}
		proof, err := decodeHashes(served.Proof)
		if err != nil {
			fail("inclusion proof of seq %d: %v", seq, err)
		}
		if !bytes.Equal([]byte(served.Record), records[i]) {
			fail("inclusion proof of seq %d: its record is not the one in the entry bundle", seq)
		}
		if err := tlog.CheckRecord(proof, at.tree.N, at.tree.Hash, i, tlog.RecordHash([]byte(served.Record))); err != nil {
			fail("inclusion proof of seq %d at size %d: tlog.CheckRecord: %v", seq, at.tree.N, err)
		}
		if at.tree == c.tree {
			mine, _ := tlog.ProveRecord(c.tree.N, i, reader)
			if fmt.Sprint(mine) != fmt.Sprint(proof) {
				fail("inclusion proof of seq %d: not the proof tlog.ProveRecord makes", seq)
			}
		}
		out.InclusionProofs = append(out.InclusionProofs, seq)
	}

	// Consistency with an earlier checkpoint: tlog.ProveTree over the tiles, and the
	// authority's own proof, each checked with tlog.CheckTree.
	if len(os.Args) == 4 {
		oldText, err := os.ReadFile(os.Args[3])
		if err != nil {
			fail("%v", err)
		}
		old, _, err := openCheckpoint(oldText, verifiers, verifier.Name())
		if err != nil {
			fail("earlier checkpoint: %v", err)
		}
		if old.tree.N > c.tree.N {
			fail("the log's checkpoint (size %d) is older than the earlier one (size %d)", c.tree.N, old.tree.N)
		}
		proof, err := tlog.ProveTree(c.tree.N, old.tree.N, reader)
		if err != nil {
			fail("tlog.ProveTree(%d, %d): %v", c.tree.N, old.tree.N, err)
		}
		if err := tlog.CheckTree(proof, c.tree.N, c.tree.Hash, old.tree.N, old.tree.Hash); err != nil {
			fail("tlog.CheckTree from size %d to %d: %v", old.tree.N, c.tree.N, err)
		}
		body, err := fetch(resolve("../proof/consistency?old=" + strconv.FormatInt(old.tree.N, 10)))
		if err != nil {
			fail("%v", err)
		}
		var served struct {
			Old        int64    `json:"old"`
			Checkpoint string   `json:"checkpoint"`
			Proof      []string `json:"proof"`
		}
		if err := json.Unmarshal(body, &served); err != nil {
			fail("consistency proof: %v", err)
		}
		at, _, err := openCheckpoint([]byte(served.Checkpoint), verifiers, verifier.Name())
		if err != nil {
			fail("consistency proof: %v", err)
		}
		hashes, err := decodeHashes(served.Proof)
		if err != nil {
			fail("consistency proof: %v", err)
		}
		if served.Old != old.tree.N {
			fail("consistency proof: old %d, asked for %d", served.Old, old.tree.N)
		}
		if err := tlog.CheckTree(hashes, at.tree.N, at.tree.Hash, old.tree.N, old.tree.Hash); err != nil {
			fail("the authority's consistency proof from size %d to %d: tlog.CheckTree: %v", old.tree.N, at.tree.N, err)
		}
		out.Consistency = &consistency{OldSize: old.tree.N, NewSize: c.tree.N, ProofHashes: len(proof), Served: true}
	}

	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fail("%v", err)
	}
}
