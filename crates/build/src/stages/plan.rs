//! `--target` selection, build order and parallel waves.

use super::error::{StageError, StageErrorKind};
use super::StageGraph;

impl StageGraph {
    fn error(&self, line: Option<usize>, kind: StageErrorKind) -> StageError {
        StageError {
            file: self.file.clone(),
            line,
            kind,
        }
    }

    /// The index of the stage `--target` names (case-insensitive), or the last stage.
    pub fn target_index(&self, target: Option<&str>) -> Result<usize, StageError> {
        match target {
            None => Ok(self.stages.len() - 1),
            Some(t) => self
                .by_name(t)
                .map(|s| s.index)
                .ok_or_else(|| self.error(None, StageErrorKind::UnknownTarget(t.to_string()))),
        }
    }

    /// The stages `target` needs (itself included), each after everything it depends on,
    /// otherwise in file order. Stages the target does not need are pruned.
    pub fn build_order(&self, target: Option<&str>) -> Result<Vec<usize>, StageError> {
        let t = self.target_index(target)?;
        // 0: not seen, 1: on the current path, 2: done.
        let mut state = vec![0u8; self.stages.len()];
        let mut order = Vec::new();
        self.visit(t, &mut state, &mut order)?;
        // A valid order exists; now prefer file order: always take the lowest ready stage.
        let mut done = vec![false; self.stages.len()];
        let mut sorted = Vec::with_capacity(order.len());
        order.sort_unstable();
        while sorted.len() < order.len() {
            let next = *order
                .iter()
                .find(|&&i| {
                    !done[i] && self.stages[i].stage_dependencies().iter().all(|&d| done[d])
                })
                .expect("acyclic: some stage is ready");
            done[next] = true;
            sorted.push(next);
        }
        Ok(sorted)
    }

    fn visit(&self, i: usize, state: &mut [u8], order: &mut Vec<usize>) -> Result<(), StageError> {
        match state[i] {
            2 => return Ok(()),
            1 => {
                let s = &self.stages[i];
                return Err(self.error(Some(s.line), StageErrorKind::Circular(s.label())));
            }
            _ => {}
        }
        state[i] = 1;
        for d in self.stages[i].stage_dependencies() {
            self.visit(d, state, order)?;
        }
        state[i] = 2;
        order.push(i);
        Ok(())
    }

    /// The stages `target` needs, grouped into waves: every stage of a wave depends only on
    /// stages of earlier waves, so a wave's stages can build in parallel. Ascending within a
    /// wave.
    pub fn waves(&self, target: Option<&str>) -> Result<Vec<Vec<usize>>, StageError> {
        let order = self.build_order(target)?;
        let mut level = vec![0usize; self.stages.len()];
        let mut waves: Vec<Vec<usize>> = Vec::new();
        for &i in &order {
            let l = self.stages[i]
                .stage_dependencies()
                .iter()
                .map(|&d| level[d] + 1)
                .max()
                .unwrap_or(0);
            level[i] = l;
            if waves.len() <= l {
                waves.resize(l + 1, Vec::new());
            }
            waves[l].push(i);
        }
        for w in &mut waves {
            w.sort_unstable();
        }
        Ok(waves)
    }
}
