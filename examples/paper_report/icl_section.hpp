// The report's section on "next-token pretraining implies in-context learning", from the
// summary.json files of icl_emergence's experiments (markov, the plateau setting, names, coins).
#pragma once
#include <filesystem>
#include <string>

#include "report_document.hpp"
#include "report_numbers.hpp"

namespace paper_report {

inline void markov_section(Document& doc, const nlohmann::json& s, const std::string& dir) {
  const double gap = number_at(s, "gap_to_bayes");
  const double model_exponent = number_at(s, "excess_exponent_model"), bayes_exponent = number_at(s, "excess_exponent_bayes");
  doc.heading(3, "Markov chains: the model infers each chain in context");
  doc.paragraph("Every training sequence comes from a new random " + std::to_string(s.value("states", 0)) +
                "-state Markov chain (transition rows drawn from a Dirichlet with α = " + fixed(number_at(s, "alpha"), 2) +
                "); to predict well the model must infer the chain from the context. Reference levels are computed exactly: "
                "the Bayes predictor that knows the prior, the unigram (in-context counts without order) and the uniform guess.");
  const auto within = s.contains("first_step_within_0.01_of_bayes") && s["first_step_within_0.01_of_bayes"].is_number()
                          ? count(s["first_step_within_0.01_of_bayes"].get<double>())
                          : std::string("never");
  const auto transition = s.contains("transition_step") && s["transition_step"].is_number() ? count(s["transition_step"].get<double>())
                                                                                             : std::string("none detected");
  doc.table({"quantity", "measured", "the paper's finding"},
            {{"mean loss of the model (nats)", fixed(number_at(s, "mean_loss_model"), 4), "follows the Bayes predictor"},
             {"Bayes / unigram / uniform (nats)",
              fixed(number_at(s, "mean_loss_exact_bayes"), 4) + " / " + fixed(number_at(s, "mean_loss_unigram"), 4) + " / " +
                  fixed(number_at(s, "mean_loss_uniform"), 4),
              "reference levels"},
             {"gap to Bayes at the end (nats)", fixed(gap, 4), "≈ 0 (target here: ≤ 0.01)"},
             {"first step within 0.01 nats of Bayes", within, "–"},
             {"excess loss ∝ t^b by position t: b of model / Bayes", fixed(model_exponent, 3) + " / " + fixed(bayes_exponent, 3),
              "a power law in position, as Bayes' (target here: within 0.1)"},
             {"phase transition (step of the steepest drop)", transition, "a plateau, then a sudden drop as induction heads form"},
             {"induction score of layer 1 at the end", fixed(number_at(s, "final_induction_score_l1"), 3), "high once the heads form"},
             {"previous-token score of layer 0", fixed(number_at(s, "final_previous_token_score_l0"), 3), "high once the heads form"}},
            "lrl");
  doc.figure(dir + "/training.svg", "Training loss against the uniform, unigram and Bayes levels, with the induction scores.");
  doc.figure(dir + "/per_position.svg", "Excess loss over the entropy floor by position (log-log), with power-law fits.");
  doc.figure(dir + "/kl.svg", "KL divergence between the model and each strategy over training.");
}

// The plateau setting (--model edelman: no norm, rotary positions): a long stay at the
// in-context unigram level, then a sudden drop while the induction heads form.
inline void plateau_section(Document& doc, const nlohmann::json& s, const std::string& dir) {
  doc.heading(3, "The plateau and the phase transition");
  doc.paragraph("The same Markov task with Edelman et al.'s model (no layer norm, rotary positions): the loss first settles at the "
                "in-context unigram level (counting tokens, ignoring order), stays there, then drops toward Bayes when the "
                "previous-token and statistical induction heads form.");
  const bool has_plateau = s.contains("plateau_before_transition") && s["plateau_before_transition"].is_object();
  const auto plateau = has_plateau ? s["plateau_before_transition"] : nlohmann::json::object();
  const auto transition = s.contains("transition_step") && s["transition_step"].is_number() ? count(s["transition_step"].get<double>())
                                                                                             : std::string("none detected");
  doc.table({"quantity", "measured", "the paper's finding"},
            {{"plateau level (nats) / in-context unigram level",
              (has_plateau ? fixed(number_at(plateau, "level"), 4) : std::string("no plateau detected")) + " / " +
                  fixed(number_at(s, "mean_loss_unigram"), 4),
              "a plateau at the unigram level"},
             {"plateau over steps", has_plateau ? count(number_at(plateau, "first_step")) + "–" + count(number_at(plateau, "last_step")) : "–",
              "a long plateau"},
             {"phase transition (step of the steepest drop)", transition, "a sudden drop after the plateau"},
             {"loss at the end / Bayes (nats)", fixed(number_at(s, "mean_loss_model"), 4) + " / " + fixed(number_at(s, "mean_loss_exact_bayes"), 4),
              "toward Bayes after the drop"},
             {"previous-token score of layer 0 at the end", fixed(number_at(s, "final_previous_token_score_l0"), 3), "rises at the drop"},
             {"statistical induction score of layer 1 at the end", fixed(number_at(s, "final_statistical_induction_score_l1"), 3),
              "rises at the drop"}},
            "lrl");
  doc.figure(dir + "/training.svg", "Training loss of the plateau model with the uniform, unigram and Bayes levels and the head scores.");
}

inline void names_section(Document& doc, const nlohmann::json& s, const std::string& dir) {
  doc.heading(3, "Name copying: a name seen once is copied the next time");
  doc.paragraph("Sequences of filler tokens where a NAME marker is followed by one of " + std::to_string(s.value("names", 0)) +
                " names, repeated within a sequence: the loss on a repeated name falls far below the loss on its first sighting.");
  doc.table({"loss on (nats)", "model", "Bayes"},
            {{"a name's first sighting", fixed(number_at(s, "final_first_name_loss"), 3), "ln(names) = " + fixed(number_at(s, "log_names"), 3)},
             {"a repeated name", fixed(number_at(s, "final_repeated_name_loss"), 3), "–"},
             {"other tokens", fixed(number_at(s, "final_other_token_loss"), 3), fixed(number_at(s, "bayes_other_token_loss"), 3)},
             {"all tokens", fixed(number_at(s, "final_loss_model"), 3), fixed(number_at(s, "final_loss_bayes"), 3)}});
  doc.figure(dir + "/name_loss.svg", "Loss on the name token over training, first sighting against repeats.");
}

inline void coins_section(Document& doc, const nlohmann::json& s, const std::string& dir) {
  doc.heading(3, "Coins: each model follows the Bayes predictor of its own prior");
  doc.paragraph("Models pretrained on different ensembles of coins, all evaluated on one coin of bias " + fixed(number_at(s, "test_bias"), 2) +
                ": a model that learned in-context inference should be closest to the Bayes predictor of the ensemble it was trained on.");
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : s.value("models", nlohmann::json::array()))
    rows.push_back({std::to_string(m.value("n", 0)) + " coins", fixed(number_at(m, "mean_loss_model"), 4), fixed(number_at(m, "mean_loss_own_bayes"), 4),
                    fixed(number_at(m, "distance_to_own_bayes"), 4), fixed(number_at(m, "distance_to_nearest_other_bayes"), 4)});
  doc.table({"pretrained on", "model loss", "own Bayes loss", "distance to own Bayes", "to nearest other"}, rows);
  doc.paragraph("Models closest to their own prior's Bayes predictor: **" + std::to_string(s.value("models_closest_to_own_prior", 0)) + " of " +
                std::to_string(s.value("models", nlohmann::json::array()).size()) + "**.");
  doc.figure(dir + "/coupling.svg", "Expected loss on the test coin by position, each model against the Bayes predictors.");
}

}  // namespace paper_report
