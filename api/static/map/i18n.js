// The page's words in Kazakh, Russian and English, and the names of the twin's fields.
//
// Words live here rather than in /map/config.json: they belong to the page, not to a twin.
// What a twin names itself (its layers' values, its title) comes from the config; a value
// with no entry here is shown as the twin wrote it.

// Kazakh numbers are written as Russian ones (1 234,5). Debian's Chromium claims "kk" but
// holds no Kazakh data and formats it as English ("1,234.5"); there ru-KZ stands in.
function kazakhLocale() {
  const probe = (l) => new Intl.NumberFormat(l).format(1234.5);
  return probe("kk-KZ") === probe("en") ? "ru-KZ" : "kk-KZ";
}

export const LANGS = {
  kk: { locale: kazakhLocale(), name: "Қазақша" },
  ru: { locale: "ru-RU", name: "Русский" },
  en: { locale: "en-GB", name: "English" },
};

// [en, ru, kk]
const UI = {
  title: ["map", "карта", "картасы"],
  skip: ["Skip to the map", "Перейти к карте", "Картаға өту"],
  panel: ["Controls", "Управление", "Басқару"],
  collapse: ["Hide the panel", "Скрыть панель", "Панельді жасыру"],
  expand: ["Show the panel", "Показать панель", "Панельді көрсету"],
  search: ["Find a district, town or project", "Найти район, населённый пункт или проект",
           "Аудан, елді мекен немесе жобаны табу"],
  search_ph: ["District, town or project…", "Район, пункт или проект…",
              "Аудан, елді мекен, жоба…"],
  find: ["Find", "Найти", "Табу"],
  no_match: ["No district, town or project matches “{q}”.",
             "Ни район, ни пункт, ни проект не совпадает с «{q}».",
             "«{q}» сұрауына сай аудан, елді мекен не жоба жоқ."],
  lang: ["Language", "Язык", "Тіл"],
  view3d: ["3D", "3D", "3D"],
  color_by: ["Districts by", "Районы по", "Аудандар бойынша"],
  scenario: ["Scenario", "Сценарий", "Сценарий"],
  baseline: ["Baseline (no scenario)", "Базовый вариант (без сценария)",
             "Базалық жағдай (сценарийсіз)"],
  compare: ["Compare", "Сравнение", "Салыстыру"],
  compare_overlay: ["Changes on top", "Изменения поверх", "Өзгерістер үстінде"],
  compare_side: ["Side by side", "Рядом", "Қатар"],
  compare_base: ["Baseline only", "Только базовый", "Тек базалық"],
  side_left: ["Baseline", "Базовый вариант", "Базалық жағдай"],
  layers: ["Layers", "Слои", "Қабаттар"],
  filters: ["Filters", "Фильтры", "Сүзгілер"],
  legend: ["Legend", "Легенда", "Шартты белгілер"],
  sector: ["Sector", "Отрасль", "Сала"],
  status: ["Status", "Статус", "Мәртебе"],
  hazard: ["Hazard class", "Класс опасности", "Қауіптілік сыныбы"],
  hazard_none: ["none", "нет", "жоқ"],
  all: ["all", "все", "барлығы"],
  year: ["Projects started by", "Проекты, начатые к", "Басталған жобалар, дейін"],
  all_years: ["all years", "все годы", "барлық жылдар"],
  shown: ["{n} of {m} projects shown", "Показано проектов: {n} из {m}",
          "Көрсетілген жобалар: {m} ішінен {n}"],
  reset_filters: ["Show all", "Показать все", "Барлығын көрсету"],
  zoom_in: ["Zoom in", "Приблизить", "Жақындату"],
  zoom_out: ["Zoom out", "Отдалить", "Алыстату"],
  zoom_home: ["Whole region", "Весь регион", "Бүкіл өңір"],
  north: ["North up", "Север вверху", "Солтүстік жоғарыда"],
  sources: ["Data sources (click for all)", "Источники данных (нажмите, чтобы увидеть все)",
            "Деректер көздері (барлығын көру үшін басыңыз)"],
  export: ["Save view as PNG", "Сохранить вид в PNG", "Көріністі PNG етіп сақтау"],
  map_label: ["Map of {name}. Arrow keys pan, + and − zoom, Enter lists what lies at the centre.",
              "Карта: {name}. Стрелки — сдвиг, + и − — масштаб, Enter — объекты в центре.",
              "{name} картасы. Көрсеткілер — жылжыту, + және − — масштаб, Enter — ортадағы нысандар."],
  loading: ["Loading…", "Загрузка…", "Жүктелуде…"],
  loading_layers: ["Loading layers…", "Загрузка слоёв…", "Қабаттар жүктелуде…"],
  ready: ["Ready", "Готово", "Дайын"],
  error: ["Error", "Ошибка", "Қате"],
  banner: ["This twin holds synthetic (made-up) data: {list}. On the map, hatched means " +
           "synthetic and dashed means approximate geometry.",
           "В этом двойнике есть синтетические (выдуманные) данные: {list}. На карте " +
           "штриховка — синтетика, пунктир — приблизительная геометрия.",
           "Бұл егізде синтетикалық (ойдан құрастырылған) деректер бар: {list}. Картада " +
           "штрихтау — синтетика, үзік сызық — шамамен алынған геометрия."],
  banner_close: ["Close the notice", "Закрыть уведомление", "Хабарламаны жабу"],
  all_of: ["all", "все", "бәрі"],
  // identify panel
  here: ["What is here", "Что здесь", "Мұнда не бар"],
  n_of_m: ["{n} of {m}", "{n} из {m}", "{m} ішінен {n}"],
  prev: ["Previous", "Предыдущий", "Алдыңғы"],
  next: ["Next", "Следующий", "Келесі"],
  close: ["Close", "Закрыть", "Жабу"],
  nothing_here: ["Nothing here: click a district, parcel, project or town.",
                 "Здесь ничего нет: щёлкните по району, участку, проекту или пункту.",
                 "Мұнда ештеңе жоқ: ауданды, учаскені, жобаны не елді мекенді басыңыз."],
  data: ["Data", "Данные", "Деректер"],
  parcel_n: ["Parcel {id}", "Участок {id}", "Учаске {id}"],
  source: ["Source", "Источник", "Дереккөз"],
  made_up: ["made up", "выдумано", "ойдан"],
  made_up_fields: ["Made-up values", "Выдуманные значения", "Ойдан алынған мәндер"],
  unknown: ["unknown", "неизвестно", "белгісіз"],
  yes: ["yes", "да", "иә"],
  no: ["no", "нет", "жоқ"],
  at_least: ["at least {v}", "не менее {v}", "кемінде {v}"],
  floor_note: ["{n} settlements without a figure are not counted",
               "{n} пунктов без данных не учтены",
               "Деректері жоқ {n} елді мекен есептелмеген"],
  projects_note: ["investment and jobs sum {n} project rows, {s} of them synthetic",
                  "инвестиции и рабочие места — сумма {n} проектов, из них {s} синтетических",
                  "инвестиция мен жұмыс орындары — {n} жобаның қосындысы, {s} синтетикалық"],
  score_note: ["score from observations {p} synthetic",
               "индекс по наблюдениям, синтетических {p}",
               "индекс бақылаулардан, {p} синтетикалық"],
  // accuracy badges
  acc_real: ["real — taken from a cited source", "реальные — из указанного источника",
             "нақты — көрсетілген дереккөзден"],
  acc_approximate: ["approximate — a real thing, geometry or figures approximated",
                    "приблизительные — реальный объект, геометрия или цифры приближены",
                    "шамамен — нақты нысан, геометриясы не сандары жуықталған"],
  "acc_partly synthetic": ["partly synthetic — a real thing, some values made up",
                           "частично синтетические — реальный объект, часть значений выдумана",
                           "ішінара синтетикалық — нақты нысан, кейбір мәндері ойдан"],
  acc_synthetic: ["synthetic — made up by a generator, not a real record",
                  "синтетические — созданы генератором, не реальная запись",
                  "синтетикалық — генератор жасаған, нақты жазба емес"],
  acc_unknown: ["accuracy unknown: this row does not say",
                "точность неизвестна: строка не указывает",
                "дәлдігі белгісіз: жолда көрсетілмеген"],
  // legend
  districts_outline: ["Shown as outlines at this zoom: parcels are the theme.",
                      "На этом масштабе — контуры: тема — участки.",
                      "Бұл масштабта — контурлар: тақырып — учаскелер."],
  parcels_from: ["Parcels appear from zoom {z} (now {now}).",
                 "Участки видны с масштаба {z} (сейчас {now}).",
                 "Учаскелер {z} масштабтан көрінеді (қазір {now})."],
  no_data: ["no data", "нет данных", "деректер жоқ"],
  size_by: ["size ∝ √investment", "размер ∝ √инвестиций", "өлшемі ∝ √инвестиция"],
  height_by: ["height ∝ √investment", "высота ∝ √инвестиций", "биіктігі ∝ √инвестиция"],
  height_scale: ["3D height", "Высота в 3D", "3D биіктігі"],
  height_rel: ["from the lowest to the highest district", "от наименьшего к наибольшему району",
               "ең төменгіден ең жоғары ауданға дейін"],
  height_abs: ["in proportion to the value", "пропорционально значению", "мәнге пропорционал"],
  tallest_column: ["tallest column", "самая высокая колонна", "ең биік баған"],
  pipeline_style: ["planned (pipeline): pale, dark ring", "планируемые: бледные, тёмный ободок",
                   "жоспарланған: бозғылт, қара жиек"],
  made_up_marks: ["How real", "Насколько реально", "Қаншалықты нақты"],
  mark_dashed: ["dashed outline: approximate geometry", "пунктир: приблизительная геометрия",
                "үзік сызық: шамамен алынған геометрия"],
  mark_hatched: ["hatched: synthetic (made up)", "штриховка: синтетика (выдумано)",
                 "штрихтау: синтетика (ойдан)"],
  synthetic_all: ["synthetic", "синтетические", "синтетикалық"],
  synthetic_share: ["{p} synthetic", "{p} синтетических", "{p} синтетикалық"],
  severity_error: ["error", "ошибка", "қате"],
  severity_warning: ["warning", "предупреждение", "ескерту"],
  severity_info: ["note", "примечание", "ескертпе"],
  szz: ["sanitary protection zone", "санитарно-защитная зона", "санитарлық-қорғау аймағы"],
  protected: ["protected area", "охраняемая территория", "қорғалатын аумақ"],
  industrial: ["industrial zone", "индустриальная зона", "индустриялық аймақ"],
  water: ["water", "вода", "су"],
  // scenario
  evaluation: ["What the scenario changes", "Что меняет сценарий", "Сценарий не өзгертеді"],
  eval_loading: ["Evaluating the scenario…", "Оценка сценария…", "Сценарий бағалануда…"],
  eval_region_score: ["Region score", "Индекс региона", "Өңір индексі"],
  eval_investment: ["Investment", "Инвестиции", "Инвестиция"],
  eval_jobs: ["Jobs", "Рабочие места", "Жұмыс орындары"],
  eval_new_findings: ["New findings", "Новые замечания", "Жаңа ескертулер"],
  eval_resolved: ["Resolved findings", "Снятые замечания", "Шешілген ескертулер"],
  eval_rank_moves: ["Units changing rank", "Единиц сменили ранг", "Рангі өзгерген бірліктер"],
  eval_szz_pop: ["People in sanitary zones", "Жители в СЗЗ", "СҚА-дағы тұрғындар"],
  eval_districts: ["By district", "По районам", "Аудандар бойынша"],
  eval_findings: ["New findings", "Новые замечания", "Жаңа ескертулер"],
  eval_none: ["no change", "без изменений", "өзгеріс жоқ"],
  scen_added: ["added site", "добавленный объект", "қосылған нысан"],
  scen_moved: ["moved site", "перенесённый объект", "көшірілген нысан"],
  scen_rezoned: ["rezoned area", "изменённое зонирование", "аймағы өзгерген аумақ"],
  scen_szz: ["its sanitary zone", "его СЗЗ", "оның СҚА"],
  scen_error: ["The scenario could not be drawn: {detail}",
               "Сценарий не удалось нарисовать: {detail}",
               "Сценарийді салу мүмкін болмады: {detail}"],
  eval_error: ["The scenario could not be evaluated: {detail}",
               "Сценарий не удалось оценить: {detail}",
               "Сценарийді бағалау мүмкін болмады: {detail}"],
  change_of: ["Change: {what}", "Изменение: {what}", "Өзгерісі: {what}"],
  export_done: ["Saved {file}", "Сохранено: {file}", "Сақталды: {file}"],
  scale: ["Scale", "Масштаб", "Масштаб"],
  // colourings of the districts (keys of /map/config.json's color_by)
  cb_score: ["Region score, 0–100", "Индекс региона, 0–100", "Өңір индексі, 0–100"],
  cb_population: ["Population (sum of settlements)", "Население (сумма пунктов)",
                  "Халық саны (елді мекендер қосындысы)"],
  cb_investment_kzt: ["Investment (sum of project sites)", "Инвестиции (сумма проектов)",
                      "Инвестиция (жобалар қосындысы)"],
  cb_jobs: ["Jobs (sum of project sites)", "Рабочие места (сумма проектов)",
            "Жұмыс орындары (жобалар қосындысы)"],
  cb_projects: ["Number of project sites", "Число проектов", "Жобалар саны"],
  note_score_syn: ["from synthetic observations", "по синтетическим наблюдениям",
                   "синтетикалық бақылаулардан"],
  note_score_part: ["partly from synthetic observations", "частично по синтетическим наблюдениям",
                    "ішінара синтетикалық бақылаулардан"],
  note_projects: ["{s} of {n} project rows synthetic", "{s} из {n} проектов синтетические",
                  "{n} жобаның {s} синтетикалық"],
  note_population: ["{n} settlements without a figure: sums are floors",
                    "{n} пунктов без данных: суммы — нижние оценки",
                    "{n} елді мекеннің деректері жоқ: қосындылар — төменгі бағалар"],
  legend_projects: ["Projects by sector", "Проекты по отраслям", "Жобалар салалар бойынша"],
  legend_parcels: ["Parcels by land use", "Участки по землепользованию", "Учаскелер жер пайдалану бойынша"],
  legend_zones: ["Areas", "Территории", "Аумақтар"],
  legend_towns: ["Settlements", "Населённые пункты", "Елді мекендер"],
  town_known: ["population known (size ∝ √population)", "население известно (размер ∝ √населения)",
               "халық саны белгілі (өлшемі ∝ √халық)"],
  town_unknown: ["population unknown", "население неизвестно", "халық саны белгісіз"],
  kind_district: ["district", "район", "аудан"],
  kind_city: ["city", "город", "қала"],
  kind_town: ["town", "пункт", "елді мекен"],
  kind_project: ["project", "проект", "жоба"],
  legend_findings: ["Compliance findings", "Замечания проверки", "Сәйкестік ескертулері"],
};

const IDX = { en: 0, ru: 1, kk: 2 };

// Layer names, as the switcher and the identify panel show them.
const LAYER_NAMES = {
  districts: ["Districts", "Районы", "Аудандар"],
  parcels: ["Parcels", "Земельные участки", "Жер учаскелері"],
  protected_areas: ["Protected areas", "Охраняемые территории", "Қорғалатын аумақтар"],
  industrial_zones: ["Industrial zones", "Индустриальные зоны", "Индустриялық аймақтар"],
  project_sites: ["Projects under way", "Реализуемые проекты", "Іске асырылып жатқан жобалар"],
  pipeline: ["Pipeline projects", "Планируемые проекты", "Жоспарланған жобалар"],
  settlements: ["Settlements", "Населённые пункты", "Елді мекендер"],
  labels: ["Labels", "Подписи", "Жазулар"],
  water: ["Water", "Водные объекты", "Су нысандары"],
  lakes: ["Lakes", "Озёра", "Көлдер"],
  rivers: ["Rivers", "Реки", "Өзендер"],
  findings: ["Compliance findings", "Замечания проверки", "Сәйкестік ескертулері"],
  sanitary_zones: ["Sanitary protection zones", "Санитарно-защитные зоны",
                   "Санитарлық-қорғау аймақтары"],
  region: ["Region", "Регион", "Өңір"],
  context: ["Neighbours", "Соседи", "Көршілер"],
  zones: ["Plan zones", "Функциональные зоны", "Функционалдық аймақтар"],
  scenario: ["Scenario", "Сценарий", "Сценарий"],
};

// Field names and what their values count. unit: kzt (tenge), ha, km2, m, year, id,
// people, int, share (0..1), index, text, bool.
const FIELDS = {
  id: ["Id", "Код", "Коды", "id"],
  name: ["Name", "Название", "Атауы", "text"],
  name_ru: ["Name (Russian)", "Название (рус.)", "Атауы (орысша)", "text"],
  name_kk: ["Name (Kazakh)", "Название (каз.)", "Атауы (қазақша)", "text"],
  name_en: ["Name (English)", "Название (англ.)", "Атауы (ағылшынша)", "text"],
  kind: ["Kind", "Тип", "Түрі", "text"],
  centre: ["Centre", "Центр", "Орталығы", "text"],
  area_km2: ["Area", "Площадь", "Аумағы", "km2"],
  official_area_km2: ["Official area", "Официальная площадь", "Ресми аумағы", "km2"],
  area_ha: ["Area", "Площадь", "Аумағы", "ha"],
  official_area_ha: ["Official area", "Официальная площадь", "Ресми аумағы", "ha"],
  population: ["Population", "Население", "Халық саны", "people"],
  population_known: ["Population known", "Население известно", "Халық саны белгілі", "bool"],
  population_unknown: ["Settlements without a figure", "Пунктов без данных",
                       "Деректері жоқ елді мекендер", "int"],
  settlements: ["Settlements", "Населённых пунктов", "Елді мекендер", "int"],
  district_id: ["District", "Район", "Аудан", "id"],
  is_centre: ["District centre", "Районный центр", "Аудан орталығы", "bool"],
  sector: ["Sector", "Отрасль", "Сала", "text"],
  investment_kzt: ["Investment", "Инвестиции", "Инвестиция", "kzt"],
  jobs: ["Jobs", "Рабочие места", "Жұмыс орындары", "int"],
  projects: ["Projects", "Проектов", "Жобалар", "int"],
  synthetic_projects: ["Synthetic projects", "Синтетических проектов", "Синтетикалық жобалар",
                       "int"],
  status: ["Status", "Статус", "Мәртебесі", "text"],
  start_year: ["Start year", "Год начала", "Басталған жылы", "year"],
  end_year: ["End year", "Год окончания", "Аяқталу жылы", "year"],
  hazard_class: ["Hazard class", "Класс опасности", "Қауіптілік сыныбы", "text"],
  land_use: ["Land use", "Землепользование", "Жер пайдалану", "text"],
  family: ["Generator family", "Семейство генератора", "Генератор тобы", "text"],
  zone_type: ["Plan zone", "Функциональная зона", "Функционалдық аймақ", "text"],
  basis: ["Basis", "Основание", "Негізі", "text"],
  note: ["Note", "Примечание", "Ескертпе", "text"],
  size_note: ["Size", "Размер", "Өлшемі", "text"],
  score: ["Region score", "Индекс региона", "Өңір индексі", "index"],
  score_synthetic: ["Synthetic observations", "Синтетических наблюдений",
                    "Синтетикалық бақылаулар", "share"],
  rule: ["Rule", "Правило", "Ереже", "text"],
  severity: ["Severity", "Серьёзность", "Маңыздылығы", "text"],
  message: ["Finding", "Замечание", "Ескерту", "text"],
  site_id: ["Project", "Проект", "Жоба", "id"],
  site_name: ["Project", "Проект", "Жоба", "text"],
  distance_m: ["Distance", "Расстояние", "Қашықтық", "m"],
  limit_m: ["Limit", "Норма", "Норма", "m"],
  radius_m: ["Radius", "Радиус", "Радиусы", "m"],
  hectares: ["Area affected", "Затронутая площадь", "Әсер ететін аумақ", "ha"],
  residential_zone_ha: ["Housing zone affected", "Затронуто жилой зоны",
                        "Тұрғын аймақ әсері", "ha"],
  parcels: ["Parcels affected", "Затронуто участков", "Әсер ететін учаскелер", "int"],
  affected: ["Affected", "Затронуты", "Әсер етеді", "text"],
  width_m: ["Width", "Ширина", "Ені", "m"],
};

// Values the twin writes in English that have a usual word in Russian and Kazakh.
const VALUES = {
  district: ["district", "район", "аудан"],
  city: ["city", "город", "қала"],
  implementation: ["under way", "реализуется", "іске асырылуда"],
  pipeline: ["pipeline (planned)", "планируется", "жоспарда"],
  residential: ["residential", "жилая", "тұрғын"],
  public_business: ["public and business", "общественно-деловая", "қоғамдық-іскерлік"],
  commercial: ["commercial", "коммерческая", "коммерциялық"],
  industrial: ["industrial", "производственная", "өнеркәсіптік"],
  infrastructure: ["infrastructure", "инфраструктурная", "инфрақұрылымдық"],
  transport: ["transport", "транспортная", "көлік"],
  recreational: ["recreational", "рекреационная", "рекреациялық"],
  agricultural: ["agricultural", "сельскохозяйственная", "ауыл шаруашылығы"],
  special: ["special use", "специального назначения", "арнайы мақсаттағы"],
  protected: ["protected", "охраняемая", "қорғалатын"],
  forest: ["forest", "лесная", "орман"],
  reserve: ["reserve land", "резервная", "резервтік"],
  water: ["water", "водная", "су"],
  agriculture: ["agriculture", "сельское хозяйство", "ауыл шаруашылығы"],
  "agro-processing": ["agro-processing", "агропереработка", "агроөңдеу"],
  "agricultural machinery": ["agricultural machinery", "сельхозмашиностроение",
                             "ауыл шаруашылығы техникасы"],
  "gold mining": ["gold mining", "золотодобыча", "алтын өндіру"],
  "rare-earth metals processing": ["rare-earth metals processing",
                                   "переработка редкоземельных металлов",
                                   "сирек жер металдарын өңдеу"],
  metallurgy: ["metallurgy", "металлургия", "металлургия"],
  energy: ["energy", "энергетика", "энергетика"],
  "energy (wind)": ["energy (wind)", "энергетика (ветер)", "энергетика (жел)"],
  "construction materials": ["construction materials", "стройматериалы", "құрылыс материалдары"],
  logistics: ["logistics", "логистика", "логистика"],
  tourism: ["tourism", "туризм", "туризм"],
  "other industry": ["other industry", "прочая промышленность", "басқа өнеркәсіп"],
  zone_use: ["use not permitted in the zone", "использование не разрешено в зоне",
             "аймақта рұқсат етілмеген пайдалану"],
  protected_area: ["inside a protected area", "в охраняемой территории",
                   "қорғалатын аумақ ішінде"],
  sanitary_zone: ["sanitary zone over housing", "СЗЗ над жильём", "СҚА тұрғын үй үстінде"],
  water_strip: ["in a water protection strip", "в водоохранной полосе",
                "су қорғау белдеуінде"],
  water_zone: ["in a water protection zone", "в водоохранной зоне", "су қорғау аймағында"],
  error: ["error", "ошибка", "қате"],
  warning: ["warning", "предупреждение", "ескерту"],
  info: ["note", "примечание", "ескертпе"],
  lake: ["lake", "озеро", "көл"],
  river: ["river", "река", "өзен"],
  reserve_area: ["reserve", "заповедник", "қорық"],
  national_park: ["national park", "национальный парк", "ұлттық парк"],
};

function pick(entry, lang) {
  return entry[IDX[lang] ?? 0] || entry[0];
}

// t("n_of_m", "ru", {n: 1, m: 3}) -> "1 из 3"
export function t(key, lang, vars) {
  const e = UI[key];
  let s = e ? pick(e, lang) : key;
  if (vars) for (const [k, v] of Object.entries(vars)) s = s.split(`{${k}}`).join(String(v));
  return s;
}

export function layerName(id, lang) {
  const e = LAYER_NAMES[id];
  return e ? pick(e, lang) : id;
}

// A field's readable name: known fields in the language, others as words ("size_note" ->
// "Size note"), never a raw column name.
export function fieldName(key, lang) {
  const e = FIELDS[key];
  if (e) return pick(e, lang);
  const words = String(key).replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function fieldUnit(key) {
  const e = FIELDS[key];
  return e ? e[3] : null;
}

export function valueName(v, lang) {
  const e = VALUES[String(v)];
  return e ? pick(e, lang) : String(v);
}
