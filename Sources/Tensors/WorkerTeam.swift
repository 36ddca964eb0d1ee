import CBLAS
import Foundation
import Synchronization

/// Persistent helper threads that run the chunks of `parallelChunks` and `splitGEMM`.
///
/// `DispatchQueue.concurrentPerform` wakes its workers through the kernel. On the 2-core
/// KVM development machine a sleeping worker took longer than 40 µs to start, so loops of
/// tens of µs, such as the layers of a small MLP, ran entirely on the calling thread.
/// Here each helper keeps polling for new work for `spinDuration` after its last chunk
/// and only then sleeps on a condition variable. Work that arrives in bursts (the steps
/// of an SDE solve, the layers of a training step) thus starts on the helpers within
/// about a µs. After its first few hundred polls a helper yields its core between polls,
/// so that on a busy machine it gives way to other threads rather than spinning.
///
/// The caller runs chunks too, and every chunk is claimed from a shared counter, so a
/// helper that starts late only leaves more chunks to the caller. The chunking itself
/// never depends on how many threads join in. One task runs at a time; a caller that
/// finds the team busy runs its chunks itself.
///
/// When other processes occupy the cores, a helper can be descheduled in the middle of a
/// chunk while the caller waits for it. So after a task in which the caller waited for
/// helpers longer than its own chunks took (and at least `stragglerWait`), the team backs
/// off. The following tasks run on the calling thread alone, first for 1 ms, and the
/// time doubles with every further such wait, up to 100 ms.
///
/// `DEFT_NUM_THREADS=N` in the environment limits the team to N threads including the
/// caller; `DEFT_NUM_THREADS=1` runs everything on the calling thread.
final class WorkerTeam: @unchecked Sendable {
    /// The team for this process: one helper per core beyond the first, or as
    /// `DEFT_NUM_THREADS` sets.
    static let shared = WorkerTeam(helperCount: threadCountSetting.map { $0 - 1 } ?? (processorCount - 1))

    /// The positive integer in `DEFT_NUM_THREADS`, or nil when it is unset or invalid.
    static let threadCountSetting: Int? = {
        guard let text = ProcessInfo.processInfo.environment["DEFT_NUM_THREADS"] else { return nil }
        guard let count = Int(text), count > 0 else {
            FileHandle.standardError.write(Data(
                "warning: ignoring DEFT_NUM_THREADS=\(text); expected a positive integer such as 1 or 2\n".utf8))
            return nil
        }
        return count
    }()

    /// How long an idle helper keeps polling before it sleeps, in nanoseconds. Polling
    /// occupies a core, so it is kept well below a millisecond.
    static let spinDuration: UInt64 = 200_000
    /// The shortest wait for helpers, in nanoseconds, that counts as a straggling helper.
    static let stragglerWait: UInt64 = 20_000
    /// The first and the longest time, in nanoseconds, that tasks run on the calling
    /// thread alone after a straggling helper.
    static let shortestBackOff: UInt64 = 1_000_000
    static let longestBackOff: UInt64 = 100_000_000

    // Read and written only by the caller holding `isBusy`.
    private var backOffUntil: UInt64 = 0
    private var backOff: UInt64 = 0

    /// The current task as one word: its generation, its chunk count and its next
    /// unclaimed chunk (see `Ticket`), so that a claim is valid only for the task it was
    /// made for.
    private let ticket = Atomic<UInt64>(0)
    /// The chunks of the current task that have finished.
    private let finishedChunks = Atomic<Int>(0)
    /// Whether a task is running; taken by the caller for the whole task.
    private let isBusy = Atomic<Bool>(false)
    /// The helpers asleep on `wakeUp`.
    private let sleepingHelpers = Atomic<Int>(0)

    // Written by the caller before it publishes a new generation in `ticket`, read by
    // helpers only after they claimed a chunk of that generation.
    private var chunkBody: ((Int) -> Void)?

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wakeUp = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    let helperCount: Int

    private init(helperCount: Int) {
        self.helperCount = Swift.max(0, helperCount)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wakeUp, nil)
        for _ in 0..<self.helperCount {
            let thread = Thread { [unowned self] in self.helperLoop() }
            thread.name = "deft-worker"
            thread.start()
        }
    }

    /// Runs `body(chunk)` for every chunk in `0..<count`, on the helpers and the calling
    /// thread, and returns when all have finished. Runs every chunk on the calling thread
    /// when the team has no helpers or is running another task.
    func run(chunks count: Int, _ body: (Int) -> Void) {
        guard count > 1, helperCount > 0, count <= Ticket.maximumChunks,
              isBusy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
        else {
            for chunk in 0..<count { body(chunk) }
            return
        }
        defer { isBusy.store(false, ordering: .releasing) }

        let start = DispatchTime.now().uptimeNanoseconds
        if start < backOffUntil {
            for chunk in 0..<count { body(chunk) }
            return
        }
        withoutActuallyEscaping(body) { escapingBody in
            chunkBody = escapingBody
            finishedChunks.store(0, ordering: .relaxed)
            let generation = Ticket.successor(of: Ticket.generation(of: ticket.load(ordering: .relaxed)))
            // Sequentially consistent, so that a helper going to sleep either reads this
            // generation or is counted in `sleepingHelpers` below.
            ticket.store(Ticket.first(generation: generation, chunks: count), ordering: .sequentiallyConsistent)
            if sleepingHelpers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(mutex)
                pthread_cond_broadcast(wakeUp)
                pthread_mutex_unlock(mutex)
            }

            while let chunk = claimChunk(of: generation) {
                body(chunk)
                finishedChunks.add(1, ordering: .releasing)
            }
            // Helpers may still be running chunks they claimed.
            let ownEnd = DispatchTime.now().uptimeNanoseconds
            var polls = 0
            while finishedChunks.load(ordering: .acquiring) < count {
                polls += 1
                if polls.isMultiple(of: 1024) { sched_yield() } else { deft_spin_pause() }
            }
            chunkBody = nil
            if polls > 0 {
                updateBackOff(ownTime: ownEnd - start, waitStart: ownEnd, waitEnd: DispatchTime.now().uptimeNanoseconds)
            }
        }
    }

    /// Starts or lengthens the back-off when the caller waited for helpers (from
    /// `waitStart` to `waitEnd`) longer than its own chunks took, and shortens it otherwise.
    private func updateBackOff(ownTime: UInt64, waitStart: UInt64, waitEnd: UInt64) {
        let wait = waitEnd - waitStart
        if wait > Swift.max(ownTime, Self.stragglerWait) {
            backOff = Swift.min(Self.longestBackOff, Swift.max(Self.shortestBackOff, 2 * backOff))
            backOffUntil = waitEnd + backOff
        } else {
            backOff /= 2
        }
    }

    /// Claims the next chunk of task `generation`, or returns nil when none is left or a
    /// newer task has replaced it.
    private func claimChunk(of generation: UInt64) -> Int? {
        var current = ticket.load(ordering: .acquiring)
        while Ticket.generation(of: current) == generation && Ticket.nextChunk(of: current) < Ticket.chunkCount(of: current) {
            let (exchanged, original) = ticket.compareExchange(
                expected: current, desired: current &+ 1, ordering: .acquiringAndReleasing)
            if exchanged { return Ticket.nextChunk(of: current) }
            current = original
        }
        return nil
    }

    private func helperLoop() {
        var seenGeneration: UInt64 = 0
        while true {
            let generation = waitForNewGeneration(after: seenGeneration)
            seenGeneration = generation
            ParallelRegion.run {
                while let chunk = claimChunk(of: generation) {
                    chunkBody!(chunk)
                    finishedChunks.add(1, ordering: .releasing)
                }
            }
        }
    }

    /// Polls `ticket` for a generation other than `seen` for up to `spinDuration`, then
    /// sleeps until the next task is published. Returns that generation.
    private func waitForNewGeneration(after seen: UInt64) -> UInt64 {
        let deadline = DispatchTime.now().uptimeNanoseconds + Self.spinDuration
        var polls = 0
        while true {
            let generation = Ticket.generation(of: ticket.load(ordering: .acquiring))
            if generation != seen { return generation }
            polls += 1
            if polls.isMultiple(of: 64) && DispatchTime.now().uptimeNanoseconds > deadline { break }
            if polls > 256 { sched_yield() } else { deft_spin_pause() }
        }

        pthread_mutex_lock(mutex)
        sleepingHelpers.add(1, ordering: .sequentiallyConsistent)
        var generation = Ticket.generation(of: ticket.load(ordering: .sequentiallyConsistent))
        while generation == seen {
            pthread_cond_wait(wakeUp, mutex)
            generation = Ticket.generation(of: ticket.load(ordering: .sequentiallyConsistent))
        }
        sleepingHelpers.subtract(1, ordering: .sequentiallyConsistent)
        pthread_mutex_unlock(mutex)
        return generation
    }
}

/// The layout of `WorkerTeam`'s ticket word: the task's generation in bits 40 to 63, its
/// chunk count in bits 20 to 39 and its next unclaimed chunk in bits 0 to 19. Claiming a
/// chunk adds 1 to the word.
private enum Ticket {
    static let maximumChunks = (1 << 20) - 1
    private static let fieldMask: UInt64 = (1 << 20) - 1

    /// Returns the generation after `generation`, wrapping within 24 bits.
    static func successor(of generation: UInt64) -> UInt64 { (generation &+ 1) & 0xFF_FFFF }

    static func first(generation: UInt64, chunks: Int) -> UInt64 {
        generation << 40 | UInt64(chunks) << 20
    }

    static func generation(of word: UInt64) -> UInt64 { word >> 40 }
    static func chunkCount(of word: UInt64) -> Int { Int((word >> 20) & fieldMask) }
    static func nextChunk(of word: UInt64) -> Int { Int(word & fieldMask) }
}
